"""Spans we did not make, to interactions: the one place they go through the dialects."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from rlhf_otel.recording._dialect_aisdk import AI_SDK
from rlhf_otel.recording._dialect_flat import OPENINFERENCE, OPENLLMETRY
from rlhf_otel.recording._dialect_genai import GENAI, MESSAGE_EVENTS
from rlhf_otel.recording._dialect_json import LOGFIRE, MLFLOW
from rlhf_otel.recording._dialects import (
    Dialect,
    EventView,
    Fields,
    SpanView,
    is_dialect_event,
    is_dialect_key,
    read_fields,
    register,
)
from rlhf_otel.records import Interaction, TokenUsage

__all__ = ["BUILTIN", "Foreign", "decode_foreign", "may_be_foreign"]

BUILTIN: Final[tuple[Dialect, ...]] = (
    GENAI,
    MESSAGE_EVENTS,
    OPENINFERENCE,
    OPENLLMETRY,
    LOGFIRE,
    MLFLOW,
    AI_SDK,
)
for _dialect in BUILTIN:
    register(_dialect)

_ERROR: Final = 2  # StatusCode.ERROR's value, in the SDK and in OTLP


@dataclass(frozen=True, slots=True)
class Foreign:
    """What the dialects made of a span: an interaction (with its kind, ``llm`` or
    ``wrapper``), or the reason it was skipped."""

    interaction: Interaction | None = None
    kind: str | None = None
    reason: str | None = None


def may_be_foreign(attrs: Mapping[str, Any], events: Sequence[Any] = ()) -> bool:
    """A cheap test: whether some dialect's markers are on the span."""
    for key in attrs:
        if is_dialect_key(key):
            return True
    return any(is_dialect_event(e.name) for e in events)


def _events(span: Any, joined: Sequence[EventView]) -> list[EventView]:
    if not span.events:
        return list(joined)
    out = [
        EventView(e.name, e.attributes or {})
        for e in span.events
        if is_dialect_event(e.name) or e.name == "exception"
    ]
    out.extend(joined)
    return out


def _split(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return str(messages[i].get("content", "")), messages[:i] + messages[i + 1 :]
    return "", messages


def _short_type(name: str) -> str:
    """``<class 'openai.InternalServerError'>`` or ``openai.InternalServerError`` to
    ``InternalServerError`` (the class name, as our own records say it)."""
    if name.startswith("<class '") and name.endswith("'>"):
        name = name[8:-2]
    return name.rsplit(".", 1)[-1]


def _error_type(span: Any, fields: Fields, events: Sequence[EventView]) -> str | None:
    if fields.error_type:
        return _short_type(fields.error_type)
    status = getattr(span, "status", None)
    code = getattr(getattr(status, "status_code", None), "value", status)
    if code != _ERROR:
        return None
    for event in events:
        if event.name == "exception":
            kind = event.attributes.get("exception.type")
            if isinstance(kind, str) and kind:
                return _short_type(kind)
    desc = getattr(status, "description", None)
    return str(desc).split(":", 1)[0] if desc else "error"


def _usage(fields: Fields) -> TokenUsage | None:
    inp, out, total = fields.input_tokens, fields.output_tokens, fields.total_tokens
    if inp is None and out is None and total is None:
        return None
    if total is None and inp is not None and out is not None:
        total = inp + out
    return TokenUsage(inp, out, total)


def to_interaction(fields: Fields, span: Any, ctx: Any, events: Sequence[EventView]) -> Interaction:
    """The record of a foreign span from its merged fields."""
    trace_hex, span_hex = f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
    prompt, context = _split(list(fields.messages or ()))
    start, end = span.start_time, span.end_time
    latency = (end - start) / 1e6 if start is not None and end is not None else None
    metadata: dict[str, Any] = {}
    if fields.tool_calls:
        metadata["tool_calls"] = fields.tool_calls
    return Interaction(
        id=f"{trace_hex}-{span_hex}",
        prompt=prompt,
        response=fields.response or "",
        timestamp=datetime.fromtimestamp((start or time.time_ns()) / 1e9, timezone.utc),
        model=fields.model or fields.response_model,
        provider=fields.provider,
        model_params=dict(fields.params or {}),
        latency_ms=latency,
        token_usage=_usage(fields),
        user_id=fields.user_id,
        session_id=fields.session_id,
        context=context,
        metadata=metadata,
        response_id=fields.response_id,
        finish_reasons=fields.finish_reasons or (),
        error_type=_error_type(span, fields, events),
        time_to_first_token_ms=fields.ttft_ms,
        trace_id=trace_hex,
        span_id=span_hex,
    )


def decode_foreign(
    span: Any, attrs: Mapping[str, Any], joined: Sequence[EventView] = ()
) -> Foreign | None:
    """The interaction a foreign span is, the reason it is skipped, or ``None`` when no
    dialect knows it (an ordinary span). ``joined``: log records joined to the span."""
    events = _events(span, joined)
    fields, reason = read_fields(SpanView(span.name, attrs, events))
    if fields is None:
        return None if reason is None else Foreign(reason=reason)
    interaction = to_interaction(fields, span, span.get_span_context(), events)
    return Foreign(interaction=interaction, kind=fields.kind)
