"""Which tracer provider a logger attaches to (never the global one taken over silently)."""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel._config import RLHFConfig

__all__ = ["resolve_tracer_provider"]

_log = logging.getLogger("rlhf_otel")


def resolve_tracer_provider(provider: TracerProvider | None, config: RLHFConfig) -> TracerProvider:
    """``provider`` if given, else the global one if it is an SDK provider, else a new one
    (made global only with ``config.set_global_tracer_provider``; either way, logged)."""
    if provider is not None:
        return provider
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    own = TracerProvider()
    if config.set_global_tracer_provider:
        trace.set_tracer_provider(own)
        _log.info("rlhf-otel created a TracerProvider and set it as the global one")
    else:
        _log.info("rlhf-otel created a private TracerProvider (no global provider was set)")
    return own
