"""What an OpenAI-style call asked for: pure functions over the keyword arguments.

What came back is read by the core (``rlhf_otel.recording.read_response`` and its chunk
accumulators), the same reader ``@trace_llm`` uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rlhf_otel.recording import (
    ChatChunkAccumulator,
    ChunkAccumulator,
    CompletionChunkAccumulator,
    ResponseInfo,
    ResponsesEventAccumulator,
    content_text,
    dumps,
    read_chat_completion,
    read_completion,
    read_responses_api,
    tool_call,
)

__all__ = [
    "CHAT",
    "COMPLETIONS",
    "READERS",
    "RESPONSES",
    "Kind",
    "RequestInfo",
    "new_accumulator",
    "read_request",
]

# Sampling parameters kept as model_params; the rest of a request is content or plumbing.
_PARAMS: Final = (
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "n",
    "stop",
    "reasoning_effort",
    "service_tier",
    "parallel_tool_calls",
    "logprobs",
    "top_logprobs",
    "truncation",
)
_MAX_TOKENS: Final = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def _get(obj: Any, name: str) -> Any:
    if type(obj) is dict:
        return obj.get(name)
    return getattr(obj, name, None)


def _given(value: object) -> bool:
    # The SDK's NOT_GIVEN / omit sentinels are falsy singletons of these two classes.
    return value is not None and type(value).__name__ not in ("NotGiven", "Omit")


# ----------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class Kind:
    """One wrapped API: its operation name and how to read its request and response."""

    name: str
    operation: str


CHAT: Final = Kind("chat.completions", "chat")
RESPONSES: Final = Kind("responses", "chat")
COMPLETIONS: Final = Kind("completions", "text_completion")


@dataclass(slots=True, kw_only=True)
class RequestInfo:
    """What a call asked for. ``messages`` is the whole conversation in order."""

    kind: Kind
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    user_id: str | None = None


def _chat_message(msg: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "role": _get(msg, "role") or "user",
        "content": content_text(_get(msg, "content")),
    }
    calls = _get(msg, "tool_calls")
    if calls:
        out["tool_calls"] = [tool_call(c) for c in calls]
    call_id = _get(msg, "tool_call_id")
    if call_id is not None:
        out["tool_call_id"] = call_id
    return out


def _responses_input(items: Any, instructions: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
        return messages
    for item in items or ():
        kind = _get(item, "type")
        if kind == "function_call":
            messages.append({"role": "assistant", "content": "", "tool_calls": [tool_call(item)]})
        elif kind == "function_call_output":
            output = _get(item, "output")
            messages.append(
                {
                    "role": "tool",
                    "content": output if isinstance(output, str) else content_text(output),
                    "tool_call_id": _get(item, "call_id"),
                }
            )
        elif kind in (None, "message"):
            role = _get(item, "role") or "user"
            messages.append(
                {
                    "role": "system" if role == "developer" else role,
                    "content": content_text(_get(item, "content")),
                }
            )
    return messages


def read_request(kind: Kind, kwargs: Mapping[str, Any], capture_content: bool) -> RequestInfo:
    """The model, sampling parameters, end-user id and (if captured) messages of a call."""
    model = kwargs.get("model")
    params: dict[str, Any] = {}
    for name in _PARAMS:
        value = kwargs.get(name)
        if _given(value):
            params[name] = value
    for name in _MAX_TOKENS:
        value = kwargs.get(name)
        if _given(value):
            params["max_tokens"] = value
    tools = kwargs.get("tools")
    if _given(tools) and isinstance(tools, Sequence):
        names = [_get(_get(t, "function") or t, "name") for t in tools]
        params["tools"] = [n for n in names if isinstance(n, str)]
    user = kwargs.get("user")
    info = RequestInfo(
        kind=kind,
        model=model if isinstance(model, str) else None,
        params=params,
        user_id=user if isinstance(user, str) and user else None,
    )
    if capture_content:
        if kind is CHAT:
            info.messages = [_chat_message(m) for m in kwargs.get("messages") or ()]
        elif kind is RESPONSES:
            instructions = kwargs.get("instructions")
            info.messages = _responses_input(kwargs.get("input"), instructions)
        else:
            prompt = kwargs.get("prompt")
            if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
                prompt = prompt[0]
            info.messages = [
                {
                    "role": "user",
                    "content": prompt
                    if isinstance(prompt, str)
                    else ("" if prompt is None else dumps(prompt)),
                }
            ]
    return info


READERS: Final[dict[Kind, Callable[[Any], ResponseInfo]]] = {
    CHAT: read_chat_completion,
    COMPLETIONS: read_completion,
    RESPONSES: read_responses_api,
}
"""How each wrapped API's (non-streamed) return value is read."""


def new_accumulator(kind: Kind) -> ChunkAccumulator:
    """The chunk accumulator for a streamed response of ``kind``."""
    if kind is CHAT:
        return ChatChunkAccumulator()
    if kind is COMPLETIONS:
        return CompletionChunkAccumulator()
    return ResponsesEventAccumulator()
