"""The Anthropic Messages API (``POST /v1/messages``) for the local test server: plain and
SSE streaming answers, tool use, errors, with the same model-name behaviours as the OpenAI
routes (``tools``/``agent``, ``length``, ``error-<status>``, ``stream-error``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["anthropic_error", "messages"]

SendJson = Callable[[int, Any], None]
SendEvents = Callable[[Iterator[tuple[str | None, Any]]], None]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        str(b.get("text", ""))
        for b in content or ()
        if isinstance(b, dict) and b.get("type") == "text"
    )


def _last_user_text(msgs: list[dict[str, Any]]) -> str:
    for msg in reversed(msgs):
        if msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_result" for b in content
            ):
                continue
            return _text(content)
    return ""


def _answered(msgs: list[dict[str, Any]]) -> bool:
    if not msgs:
        return False
    content = msgs[-1].get("content")
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    )


def anthropic_error(status: int) -> dict[str, Any]:
    """The error body Anthropic sends with ``status``."""
    kind = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error"}
    return {
        "type": "error",
        "error": {"type": kind.get(status, "api_error"), "message": f"simulated {status}"},
    }


def messages(
    body: dict[str, Any], model: str, send_json: SendJson, send_events: SendEvents
) -> None:
    """Answer one ``/v1/messages`` request."""
    msgs = body.get("messages") or []
    text = f"Echo: {_last_user_text(msgs)}"
    digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    mid = f"msg_{digest}"
    tools = body.get("tools") or []
    call = None
    if (model == "tools" or (model == "agent" and not _answered(msgs))) and tools:
        call = {"type": "tool_use", "id": f"toolu_{digest[:8]}", "name": tools[0]["name"]}
    system = body.get("system")
    input_tokens = sum(len(_text(m.get("content")).split()) for m in msgs) + len(
        _text(system).split()
    )
    output_tokens = 5 if call else len(text.split())
    stop = "tool_use" if call else ("max_tokens" if model == "length" else "end_turn")
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if not body.get("stream"):
        content: list[dict[str, Any]] = (
            [{**call, "input": {"city": "Paris"}}] if call else [{"type": "text", "text": text}]
        )
        send_json(
            200,
            {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": f"{model}-2024",
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": usage,
            },
        )
        return

    def events() -> Iterator[tuple[str | None, Any]]:
        start = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": f"{model}-2024",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        }
        yield "message_start", {"type": "message_start", "message": start}
        block: dict[str, Any] = {**call, "input": {}} if call else {"type": "text", "text": ""}
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        )
        yield "ping", {"type": "ping"}
        if call:
            for part in ('{"city": ', '"Paris"}'):
                delta = {"type": "input_json_delta", "partial_json": part}
                yield (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                )
        else:
            words = text.split(" ")
            for i, word in enumerate(words):
                if model == "stream-error" and i == 2:
                    err = {"type": "overloaded_error", "message": "simulated stream failure"}
                    yield "error", {"type": "error", "error": err}
                    return
                piece = word if i == 0 else " " + word
                delta = {"type": "text_delta", "text": piece}
                yield (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                )
        yield "content_block_stop", {"type": "content_block_stop", "index": 0}
        yield (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        )
        yield "message_stop", {"type": "message_stop"}

    send_events(events())
