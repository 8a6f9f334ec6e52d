"""``gen_ai.provider.name`` when the caller does not say: from the model name's family."""

from __future__ import annotations

import functools
from typing import Final

__all__ = ["UNKNOWN_PROVIDER", "infer_provider"]

UNKNOWN_PROVIDER: Final = "unknown"
"""The documented fallback when neither the caller nor the model name tells the provider."""

# Prefixes of well-known model families, most specific first, mapped to the GenAI
# conventions' provider values.
_FAMILIES: Final[tuple[tuple[str, str], ...]] = (
    ("gpt-", "openai"),
    ("chatgpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("text-davinci", "openai"),
    ("davinci", "openai"),
    ("babbage", "openai"),
    ("claude", "anthropic"),
    ("gemini", "gcp.gemini"),
    ("gemma", "gcp.gemini"),
    ("command", "cohere"),
    ("mistral", "mistral_ai"),
    ("mixtral", "mistral_ai"),
    ("codestral", "mistral_ai"),
    ("ministral", "mistral_ai"),
    ("pixtral", "mistral_ai"),
    ("magistral", "mistral_ai"),
    ("deepseek", "deepseek"),
    ("grok", "x_ai"),
    ("sonar", "perplexity"),
    ("granite", "ibm.watsonx.ai"),
)


@functools.lru_cache(maxsize=1024)
def infer_provider(model: str | None) -> str:
    """The provider a model name belongs to, else :data:`UNKNOWN_PROVIDER`.

    ``openai/gpt-4o`` and ``anthropic.claude-3`` style prefixes are read too.
    """
    if not model:
        return UNKNOWN_PROVIDER
    name = model.lower()
    for sep in ("/", ":"):
        if sep in name:
            name = name.rsplit(sep, 1)[-1] if sep == "/" else name.split(sep, 1)[0]
    if name.startswith(("anthropic.", "us.anthropic.", "eu.anthropic.")):
        return "aws.bedrock"
    for prefix, provider in _FAMILIES:
        if name.startswith(prefix):
            return provider
    return UNKNOWN_PROVIDER
