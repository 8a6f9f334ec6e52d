"""Pure functions that read the conversation out of a traced function's arguments
(``messages=``, a prompt-like parameter, or the first string). Responses are read by
``_response``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from rlhf_otel.recording._response import _get, tool_call

__all__ = ["PROMPT_NAMES", "extract_messages", "extract_prompt"]

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


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(
            str(_get(p, "text") or "") for p in content if _get(p, "type") in ("text", "input_text")
        )
    return ""


def _message(m: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "role": str(_get(m, "role")),
        "content": _content_text(_get(m, "content")),
    }
    calls = _get(m, "tool_calls")
    if calls:
        out["tool_calls"] = [tool_call(c) for c in calls]
    if _get(m, "tool_call_id") is not None:
        out["tool_call_id"] = _get(m, "tool_call_id")
    return out


def _messages(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        return None
    msgs = [_message(m) for m in value if _get(m, "role") is not None]
    return msgs or None


def extract_prompt(
    names: Sequence[str], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[str, list[dict[str, Any]]]:
    """The prompt (the last user message) and the other messages, in order."""
    messages = extract_messages(names, args, kwargs)
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "user":
            return messages[i]["content"], messages[:i] + messages[i + 1 :]
    return "", messages


def extract_messages(
    names: Sequence[str], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The conversation a call sends, in order: ``messages=``, a prompt-like parameter
    (as one user message), or the first string argument. ``names`` are the function's
    positional parameter names."""
    if not kwargs and len(args) == 1 and isinstance(args[0], str):
        # The commonest call, and every rule below gives this for it.
        return [{"role": "user", "content": args[0]}]
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
            return [{"role": "user", "content": value}]
        if name == "input":
            found = _messages(value)
            if found is not None:
                return found
    for value in (*args, *kwargs.values()):
        if isinstance(value, str):
            return [{"role": "user", "content": value}]
    return []
