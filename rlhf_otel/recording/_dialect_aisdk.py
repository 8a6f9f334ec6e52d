"""The Vercel AI SDK's ``ai.*`` spans (``ai`` 4 to 6 with ``experimental_telemetry``, and
``ai`` 7 with ``@ai-sdk/otel``'s ``LegacyOpenTelemetry``).

Shapes (from real traces, ``tests/recording/fixtures/ai_sdk_*.json``):

- outer span ``ai.generateText`` / ``ai.streamText`` (``ai.operationId``): the user's call,
  ``ai.prompt`` (JSON ``{system?, prompt? | messages?}``), the final ``ai.response.text``,
  ``ai.response.toolCalls``, usage over every step, no response id: a wrapper. ``ai`` 5's
  ``generateText`` reports its last step's usage there (user agent ``ai/5.*``): left out,
  so the sum of its steps counts;
- inner spans ``ai.generateText.doGenerate`` / ``ai.streamText.doStream``: one model call,
  ``ai.prompt.messages`` (the messages sent), ``ai.response.text``/``toolCalls``/``id``/
  ``model``/``finishReason``, its usage: a model call (a step of the outer span);
- ``ai.toolCall`` (a tool run) and embeddings, reranking, ...: skipped with a reason.

Usage is ``ai.usage.inputTokens``/``outputTokens`` (``ai`` 5 streams, 6, 7) or
``promptTokens``/``completionTokens`` (``ai`` 4, ``ai`` 5's ``generateText``); the provider
is the first part of ``ai.model.provider`` (``openai.chat`` is ``openai``); user and session
ids come from ``ai.telemetry.metadata.*`` (``ai`` 4 to 6) or ``ai.settings.context.*`` (the
runtime context ``ai`` 7 lets through). ``ai`` 7's ``OpenTelemetry`` integration writes the
current ``gen_ai.*`` conventions (``invoke_agent`` > ``step`` > ``chat``), read by that
dialect; this one adds the user and session ids it puts under ``ai.settings.context.*``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from rlhf_otel.recording._dialects import (
    KIND_LLM,
    KIND_WRAPPER,
    Dialect,
    Fields,
    Scalars,
    SpanView,
    loads,
    text_of,
)

__all__ = ["AI_SDK", "read_ai_sdk"]

_WRAPPERS: Final = frozenset(
    {"ai.generateText", "ai.streamText", "ai.generateObject", "ai.streamObject"}
)
_CALLS: Final = frozenset({"doGenerate", "doStream"})
_PARAMS: Final = {
    "ai.settings.temperature": "temperature",
    "ai.settings.maxOutputTokens": "max_tokens",
    "ai.settings.maxTokens": "max_tokens",
    "ai.settings.topP": "top_p",
}
_ID_KEYS: Final = {
    "user_id": ("userId", "user_id", "user.id", "userID"),
    "session_id": ("sessionId", "session_id", "session.id", "sessionID", "conversationId"),
}
_ID_PLACES: Final = (
    "ai.telemetry.metadata.",
    "ai.settings.context.",
    "ai.settings.runtimeContext.",
)
# ``ai.model.provider``'s first part, where it differs from the GenAI conventions' name.
_PROVIDERS: Final = {
    "google": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "amazon-bedrock": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "azure": "azure.ai.openai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "togetherai": "together_ai",
}

# The inner spans also carry some gen_ai.* attributes (ai 5+): read when ai.* is missing.
SCALARS: Final = Scalars(
    model=("ai.model.id", "gen_ai.request.model"),
    response_model=("ai.response.model", "gen_ai.response.model"),
    input_tokens=("ai.usage.inputTokens", "ai.usage.promptTokens", "gen_ai.usage.input_tokens"),
    output_tokens=(
        "ai.usage.outputTokens",
        "ai.usage.completionTokens",
        "gen_ai.usage.output_tokens",
    ),
    total_tokens=("ai.usage.totalTokens",),
    response_id=("ai.response.id", "gen_ai.response.id"),
)
WITHOUT_USAGE: Final = replace(SCALARS, input_tokens=(), output_tokens=(), total_tokens=())


def provider_name(value: object) -> str | None:
    """``ai.model.provider`` (``openai.chat``, ``anthropic.messages``) as a GenAI provider."""
    if not isinstance(value, str) or not value:
        return None
    head = value.split(".", 1)[0].lower()
    return _PROVIDERS.get(head, head)


def _arguments(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _call(part: Mapping[str, Any]) -> dict[str, Any]:
    """An AI SDK tool call (``toolCallId``, ``toolName``, ``input`` or ``args``) in our form."""
    args = part.get("input", part.get("args"))
    return {
        "id": part.get("toolCallId"),
        "name": part.get("toolName"),
        "arguments": _arguments(args),
    }


def _tool_output(part: Mapping[str, Any]) -> str:
    output = part.get("output", part.get("result"))
    # ai 5+: {"type": "json" | "text" | "error-text" | ..., "value": ...}
    if isinstance(output, Mapping) and "type" in output and "value" in output:
        output = output["value"]
    return output if isinstance(output, str) else json.dumps(output, separators=(",", ":"))


def _message(msg: Any) -> dict[str, Any] | None:
    """One AI SDK ``ModelMessage`` (string content or ``text``/``tool-call``/``tool-result``
    parts) in our ``{role, content, tool_calls?, tool_call_id?}`` form."""
    if not isinstance(msg, Mapping) or not isinstance(msg.get("role"), str):
        return None
    content = msg.get("content")
    out: dict[str, Any] = {"role": msg["role"]}
    if not isinstance(content, list):
        out["content"] = content if isinstance(content, str) else ""
        return out
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "tool-call":
            calls.append(_call(part))
        elif kind == "tool-result":
            out["tool_call_id"] = part.get("toolCallId")
            texts.append(_tool_output(part))
        elif kind == "text":
            texts.append(text_of([part]))
    out["content"] = "".join(texts)
    if calls:
        out["tool_calls"] = calls
    return out


def _messages(value: Any) -> list[dict[str, Any]] | None:
    if not isinstance(value, list):
        return None
    return [m for m in (_message(v) for v in value) if m is not None]


def _prompt(value: Any) -> list[dict[str, Any]] | None:
    """``ai.prompt``: ``{"system"?, "prompt"?: text | messages, "messages"?}``."""
    prompt = loads(value)
    if not isinstance(prompt, Mapping):
        return None
    out: list[dict[str, Any]] = []
    for key in ("system", "instructions"):
        if isinstance(prompt.get(key), str) and prompt[key]:
            out.append({"role": "system", "content": prompt[key]})
    text = prompt.get("prompt")
    if isinstance(text, str):
        out.append({"role": "user", "content": text})
    for listed in (text, prompt.get("messages")):
        out.extend(_messages(listed) or ())
    return out


def _ids(attrs: Mapping[str, Any], out: Fields) -> None:
    for field, names in _ID_KEYS.items():
        for place in _ID_PLACES:
            value = next((attrs[place + n] for n in names if place + n in attrs), None)
            if isinstance(value, str) and value:
                setattr(out, field, value)
                break


def _last_step_usage(operation: str, attrs: Mapping[str, Any]) -> bool:
    """ai 5's outer ``ai.generateText`` reports its last step's usage, not the answer's."""
    agent = attrs.get("ai.request.headers.user-agent")
    return operation == "ai.generateText" and isinstance(agent, str) and agent.startswith("ai/5.")


def _kind(operation: str) -> str:
    if operation in _WRAPPERS:
        return KIND_WRAPPER
    head, _, tail = operation.rpartition(".")
    if tail in _CALLS and head in _WRAPPERS:
        return KIND_LLM
    return "skip:ai_sdk:" + operation.removeprefix("ai.")


def read_ai_sdk(view: SpanView) -> Fields:
    """The fields of one ``ai.*`` span (see the module docstring for the shapes)."""
    attrs = view.attributes
    out = Fields()
    _ids(attrs, out)
    operation = attrs.get("ai.operationId")
    if not isinstance(operation, str):
        # ai 7's OpenTelemetry integration: gen_ai.* spans with ai.settings.context.* ids.
        return out
    out.kind = _kind(operation)
    if out.kind.startswith("skip:"):
        return out
    out.messages = _messages(loads(attrs.get("ai.prompt.messages"))) or _prompt(
        attrs.get("ai.prompt")
    )
    text = attrs.get("ai.response.text")
    if isinstance(text, str):
        out.response = text
    calls = loads(attrs.get("ai.response.toolCalls"))
    if isinstance(calls, list) and calls:
        out.tool_calls = [_call(c) for c in calls if isinstance(c, Mapping)]
    reason = attrs.get("ai.response.finishReason")
    if isinstance(reason, str) and reason:
        out.finish_reasons = (reason.replace("-", "_"),)
    out.provider = provider_name(attrs.get("ai.model.provider") or attrs.get("gen_ai.system"))
    (WITHOUT_USAGE if _last_step_usage(operation, attrs) else SCALARS).read(attrs, out)
    params = {name: attrs[key] for key, name in _PARAMS.items() if key in attrs}
    if params:
        out.params = params
    ttft = attrs.get("ai.response.msToFirstChunk")  # .doStream spans
    if isinstance(ttft, (int, float)) and not isinstance(ttft, bool):
        out.ttft_ms = float(ttft)
    return out


AI_SDK: Final = Dialect(
    name="ai_sdk",
    rank=50,
    read=read_ai_sdk,
    marker_keys=frozenset({"ai.operationId"}),
    marker_prefixes=("ai.telemetry.metadata.", "ai.settings.context.", "ai.model.", "ai.prompt"),
)
"""The Vercel AI SDK's ``ai.*`` spans (``ai`` 4-7; see the module docstring)."""
