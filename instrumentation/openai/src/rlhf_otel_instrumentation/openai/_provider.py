"""The ``gen_ai.provider.name`` of a client, from the host of its base URL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["DEFAULT_PROVIDER", "PROVIDER_HOSTS", "provider_for_host"]

DEFAULT_PROVIDER: Final = "openai"

PROVIDER_HOSTS: Final[Mapping[str, str]] = {
    "api.openai.com": "openai",
    "openai.azure.com": "azure.ai.openai",
    "cognitiveservices.azure.com": "azure.ai.openai",
    "services.ai.azure.com": "azure.ai.inference",
    "api.groq.com": "groq",
    "api.together.xyz": "together_ai",
    "api.together.ai": "together_ai",
    "api.mistral.ai": "mistral_ai",
    "api.deepseek.com": "deepseek",
    "api.x.ai": "x_ai",
    "api.perplexity.ai": "perplexity",
    "generativelanguage.googleapis.com": "gcp.gemini",
    "aiplatform.googleapis.com": "gcp.vertex_ai",
    "api.anthropic.com": "anthropic",
    "openrouter.ai": "openrouter",
    "api.fireworks.ai": "fireworks_ai",
    "api.cerebras.ai": "cerebras",
    "api.deepinfra.com": "deepinfra",
    "integrate.api.nvidia.com": "nvidia_nim",
    "api.cohere.ai": "cohere",
    "api.cohere.com": "cohere",
    "dashscope.aliyuncs.com": "alibaba.dashscope",
    "dashscope-intl.aliyuncs.com": "alibaba.dashscope",
}
"""Known hosts (or parent domains) of OpenAI-compatible APIs and their provider names.

Names follow the GenAI semantic conventions' ``gen_ai.provider.name`` values where one
exists. Any other host, a local server included, is ``openai`` unless the caller maps it.
"""


def provider_for_host(
    host: str, port: int | None = None, overrides: Mapping[str, str] | None = None
) -> str:
    """The provider of ``host``: ``overrides`` (keys ``host`` or ``host:port``) first, then
    :data:`PROVIDER_HOSTS` matched on the host or any parent domain, else ``openai``."""
    host = host.lower().rstrip(".")
    if overrides:
        if port is not None and f"{host}:{port}" in overrides:
            return overrides[f"{host}:{port}"]
        if host in overrides:
            return overrides[host]
    name = host
    while name:
        found = PROVIDER_HOSTS.get(name)
        if found is not None:
            return found
        _, _, name = name.partition(".")
    return DEFAULT_PROVIDER
