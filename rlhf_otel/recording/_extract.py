"""Pure functions that read prompts, responses, models and usage out of call arguments and
return values (strings, dicts, OpenAI-style objects). No client needed to test them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rlhf_otel.records._model import TokenUsage

__all__ = ["Extracted", "extract_chunk", "extract_prompt", "extract_response"]

PROMPT_NAMES: Final = (
    "prompt",
    "query",
    "question",
    "input",
    "user_input",
    "message",
    "text",
    "content",
)


@dataclass(slots=True)
class Extracted:
    """What a return value (or the chunks of a stream) told us."""

    text: str = ""
    model: str | None = None
    response_id: str | None = None
    usage: TokenUsage | None = None
    finish_reasons: list[str] = field(default_factory=list)


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(
            str(_get(p, "text") or "") for p in content if _get(p, "type") in ("text", "input_text")
        )
    return ""


def _messages(value: Any) -> tuple[str, list[dict[str, Any]]] | None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        return None
    msgs = [
        {"role": str(_get(m, "role")), "content": _content_text(_get(m, "content"))}
        for m in value
        if _get(m, "role") is not None
    ]
    if not msgs:
        return None
    for i in range(len(msgs) - 1, -1, -1):
        if msgs[i]["role"] == "user":
            return msgs[i]["content"], msgs[:i] + msgs[i + 1 :]
    return "", msgs


def extract_prompt(
    names: Sequence[str], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[str, list[dict[str, Any]]]:
    """The prompt and earlier messages, from ``messages=``, a prompt-like parameter, or the
    first string argument. ``names`` are the function's positional parameter names."""
    bound: dict[str, Any] = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    messages = bound.get("messages")
    if messages is not None:
        found = _messages(messages)
        if found is not None:
            return found
    for name in PROMPT_NAMES:
        value = bound.get(name)
        if isinstance(value, str):
            return value, []
        if name == "input":
            found = _messages(value)
            if found is not None:
                return found
    for value in args:
        if isinstance(value, str):
            return value, []
    for value in kwargs.values():
        if isinstance(value, str):
            return value, []
    return "", []


def _usage(usage: Any) -> TokenUsage | None:
    if usage is None:
        return None
    prompt = _get(usage, "prompt_tokens")
    if prompt is None:
        prompt = _get(usage, "input_tokens")
    completion = _get(usage, "completion_tokens")
    if completion is None:
        completion = _get(usage, "output_tokens")
    total = _get(usage, "total_tokens")
    ints = [
        v if isinstance(v, int) and not isinstance(v, bool) else None
        for v in (prompt, completion, total)
    ]
    if ints == [None, None, None]:
        return None
    if ints[2] is None and ints[0] is not None and ints[1] is not None:
        ints[2] = ints[0] + ints[1]
    return TokenUsage(*ints)


def extract_response(value: Any) -> Extracted:
    """Response text, model, id, usage and finish reasons from a return value."""
    out = Extracted()
    if isinstance(value, str):
        out.text = value
        return out
    if value is None:
        return out
    choices = _get(value, "choices")
    if isinstance(choices, Sequence) and not isinstance(choices, str):
        texts = []
        for choice in choices[:1]:
            message = _get(choice, "message")
            texts.append(
                _content_text(_get(message, "content"))
                if message is not None
                else str(_get(choice, "text") or "")
            )
            reason = _get(choice, "finish_reason")
            if reason:
                out.finish_reasons.append(str(reason))
        out.text = "".join(texts)
    elif isinstance(_get(value, "output_text"), str):
        out.text = _get(value, "output_text")
        status = _get(value, "status")
        if isinstance(status, str):
            out.finish_reasons.append(status)
    elif isinstance(value, Mapping):
        for key in ("response", "content", "text", "output", "answer", "completion"):
            if isinstance(value.get(key), str):
                out.text = value[key]
                break
    model = _get(value, "model")
    out.model = model if isinstance(model, str) else None
    rid = _get(value, "id")
    out.response_id = rid if isinstance(rid, str) else None
    out.usage = _usage(_get(value, "usage"))
    return out


def extract_chunk(chunk: Any, into: Extracted) -> None:
    """Fold one streamed chunk (a string, an OpenAI chunk or event, a dict) into ``into``."""
    if isinstance(chunk, str):
        into.text += chunk
        return
    if isinstance(chunk, bytes):
        into.text += chunk.decode("utf-8", "replace")
        return
    choices = _get(chunk, "choices")
    if isinstance(choices, Sequence) and choices:
        delta = _get(choices[0], "delta")
        content = _get(delta, "content") if delta is not None else _get(choices[0], "text")
        if isinstance(content, str):
            into.text += content
        reason = _get(choices[0], "finish_reason")
        if reason:
            into.finish_reasons.append(str(reason))
    elif _get(chunk, "type") == "response.output_text.delta":
        into.text += str(_get(chunk, "delta") or "")
    elif isinstance(chunk, Mapping):
        for key in ("delta", "content", "text"):
            if isinstance(chunk.get(key), str):
                into.text += chunk[key]
                break
    model = _get(chunk, "model")
    if isinstance(model, str):
        into.model = model
    rid = _get(chunk, "id")
    if isinstance(rid, str) and into.response_id is None:
        into.response_id = rid
    usage = _usage(_get(chunk, "usage"))
    if usage is not None:
        into.usage = usage
