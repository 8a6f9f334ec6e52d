"""Auto-instrumentation of OpenAI-style clients: every call becomes an rlhf-otel interaction.

Example::

    from rlhf_otel_instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument(tracer_provider=provider)   # every client, or
    OpenAIInstrumentor().instrument_client(client)              # just this one
"""

from __future__ import annotations

from ._call import SUPERSEDED
from ._instrumentor import CAPTURE_CONTENT_ENV, STREAM_USAGE_ENV, TARGETS, OpenAIInstrumentor
from ._provider import DEFAULT_PROVIDER, PROVIDER_HOSTS, provider_for_host
from .version import __version__

__all__ = [
    "CAPTURE_CONTENT_ENV",
    "DEFAULT_PROVIDER",
    "OpenAIInstrumentor",
    "PROVIDER_HOSTS",
    "STREAM_USAGE_ENV",
    "SUPERSEDED",
    "TARGETS",
    "__version__",
    "provider_for_host",
]
