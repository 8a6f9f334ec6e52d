"""Spans back to records: the inverse of ``_encode``, for spans we did not record ourselves."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from rlhf_otel import attributes as A
from rlhf_otel.recording._dialects import EventView
from rlhf_otel.recording._encode import (
    FEEDBACK_EVENT_NAMES,
    INTERACTION_OPERATIONS,
    KNOWN_PARAMS,
    dumps,
)
from rlhf_otel.recording._foreign import decode_foreign, may_be_foreign
from rlhf_otel.records import Feedback, FeedbackType, Interaction, TokenUsage, data_class

__all__ = [
    "ReadableSpanLike",
    "SpanRecords",
    "carries_records",
    "decode_span",
    "is_foreign",
    "is_interaction_span",
    "message_from_otel",
    "ns_to_datetime",
    "records_from_span",
]


def _loads(value: object, default: Any) -> Any:
    if not isinstance(value, str):
        return default
    if value == "{}":
        return {}
    try:
        return json.loads(value)
    except ValueError:
        return default


def message_from_otel(msg: Mapping[str, Any]) -> dict[str, Any]:
    """A GenAI parts-form message as a stored ``{role, content, tool_calls?, ...}`` one."""
    out: dict[str, Any] = {"role": msg.get("role", "user")}
    if isinstance(msg.get("content"), str):
        out["content"] = msg["content"]
        return out
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in msg.get("parts") or ():
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("content"), str):
            texts.append(part["content"])
        elif kind == "tool_call":
            calls.append({k: v for k, v in part.items() if k != "type"})
        elif kind == "tool_call_response":
            out["tool_call_id"] = part.get("id")
            response = part.get("response")
            texts.append(response if isinstance(response, str) else dumps(response))
    out["content"] = "".join(texts)
    if calls:
        out["tool_calls"] = calls
    return out


def _split_prompt(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    decoded = [message_from_otel(m) for m in messages if isinstance(m, Mapping)]
    for i in range(len(decoded) - 1, -1, -1):
        if decoded[i]["role"] == "user":
            return str(decoded[i].get("content", "")), decoded[:i] + decoded[i + 1 :]
    return "", decoded


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def ns_to_datetime(ns: int | None) -> datetime:
    """A span timestamp (ns since the epoch) as an aware UTC datetime."""
    if ns is None:
        return datetime.now(timezone.utc)
    return datetime.fromtimestamp(ns / 1e9, timezone.utc)


class _ContextLike(Protocol):
    trace_id: int
    span_id: int


class _EventLike(Protocol):
    name: str
    attributes: Mapping[str, Any] | None
    timestamp: int


class ReadableSpanLike(Protocol):
    """What the exporter needs of a span (``ReadableSpan`` and decoded OTLP spans fit)."""

    @property
    def name(self) -> str: ...

    @property
    def attributes(self) -> Mapping[str, Any] | None: ...

    @property
    def events(self) -> Sequence[Any]: ...

    @property
    def start_time(self) -> int | None: ...

    @property
    def end_time(self) -> int | None: ...

    def get_span_context(self) -> Any: ...


def _interaction_from_span(
    span: ReadableSpanLike, attrs: Mapping[str, Any], ctx: _ContextLike
) -> Interaction:
    trace_hex, span_hex = f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
    interaction_id = attrs.get(A.RLHF_INTERACTION_ID) or f"{trace_hex}-{span_hex}"
    prompt, context = _split_prompt(_loads(attrs.get(A.GEN_AI_INPUT_MESSAGES), []) or [])
    outputs = _loads(attrs.get(A.GEN_AI_OUTPUT_MESSAGES), []) or []
    response = "".join(
        str(message_from_otel(m).get("content", "")) for m in outputs if isinstance(m, Mapping)
    )
    params: dict[str, Any] = {
        key: attrs[name] for key, name in KNOWN_PARAMS.items() if name in attrs
    }
    params.update(_loads(attrs.get(A.RLHF_MODEL_PARAMS), {}) or {})
    latency = attrs.get(A.RLHF_LATENCY_MS)
    # Our own spans say when latency is unknown; a foreign span's duration is its latency.
    if (
        latency is None
        and A.RLHF_RECORD_KIND not in attrs
        and span.start_time is not None
        and span.end_time is not None
    ):
        latency = (span.end_time - span.start_time) / 1e6
    input_tokens = _int_or_none(attrs.get(A.GEN_AI_USAGE_INPUT_TOKENS))
    output_tokens = _int_or_none(attrs.get(A.GEN_AI_USAGE_OUTPUT_TOKENS))
    total = _int_or_none(attrs.get(A.RLHF_USAGE_TOTAL_TOKENS))
    if total is None and input_tokens is not None and output_tokens is not None:
        total = input_tokens + output_tokens
    usage = (
        None
        if input_tokens is None and output_tokens is None and total is None
        else TokenUsage(input_tokens, output_tokens, total)
    )
    finish = attrs.get(A.GEN_AI_RESPONSE_FINISH_REASONS) or ()
    return Interaction(
        id=str(interaction_id),
        prompt=prompt,
        response=response,
        timestamp=ns_to_datetime(span.start_time),
        model=attrs.get(A.GEN_AI_REQUEST_MODEL) or attrs.get(A.GEN_AI_RESPONSE_MODEL),
        provider=attrs.get(A.GEN_AI_PROVIDER_NAME) or attrs.get(A.GEN_AI_SYSTEM),
        model_params=params,
        latency_ms=float(latency) if latency is not None else None,
        token_usage=usage,
        user_id=attrs.get(A.USER_ID),
        session_id=attrs.get(A.SESSION_ID),
        context=context,
        metadata=_loads(attrs.get(A.RLHF_METADATA), {}) or {},
        response_id=attrs.get(A.GEN_AI_RESPONSE_ID),
        finish_reasons=tuple(str(f) for f in finish),
        error_type=attrs.get(A.ERROR_TYPE),
        time_to_first_token_ms=attrs.get(A.RLHF_TTFT_MS),
        trace_id=trace_hex,
        span_id=span_hex,
    )


def _num(value: object) -> float | int:
    assert isinstance(value, (int, float))
    f = float(value)
    return int(f) if f.is_integer() and math.isfinite(f) else f


def _feedback_from_attributes(
    attrs: Mapping[str, Any], timestamp_ns: int | None, ctx: _ContextLike | None
) -> Feedback:
    ftype = FeedbackType(attrs[A.RLHF_FEEDBACK_TYPE])
    data = data_class(ftype).from_attributes(attrs).to_data()
    interaction_id = str(attrs[A.RLHF_INTERACTION_ID])
    return Feedback(
        id=str(attrs[A.RLHF_FEEDBACK_ID]),
        interaction_id=interaction_id,
        type=ftype,
        data=data,
        timestamp=ns_to_datetime(timestamp_ns),
        user_id=attrs.get(A.USER_ID),
        session_id=attrs.get(A.SESSION_ID),
        source=attrs.get(A.RLHF_FEEDBACK_SOURCE),
        metadata=_loads(attrs.get(A.RLHF_METADATA), {}) or {},
        target_ids=tuple(attrs.get(A.RLHF_FEEDBACK_TARGET_IDS) or (interaction_id,)),
        trace_id=None if ctx is None else f"{ctx.trace_id:032x}",
        span_id=None if ctx is None else f"{ctx.span_id:016x}",
        supersedes=attrs.get(A.RLHF_FEEDBACK_SUPERSEDES),
    )


def is_interaction_span(attrs: Mapping[str, Any]) -> bool:
    """Ours, or a GenAI-convention span from another instrumentation library."""
    kind = attrs.get(A.RLHF_RECORD_KIND)
    if kind is not None:
        return bool(kind == A.RECORD_KIND_INTERACTION)
    return attrs.get(A.GEN_AI_OPERATION_NAME) in INTERACTION_OPERATIONS


def carries_records(span: ReadableSpanLike) -> bool:
    """Whether a span may hold an interaction or feedback (a cheap test, before decoding)."""
    attrs = span.attributes
    if attrs and A.RLHF_RECORD_KIND in attrs:
        return True
    return may_be_foreign(attrs or {}, span.events) or any(
        e.name in FEEDBACK_EVENT_NAMES for e in span.events
    )


def is_foreign(span: ReadableSpanLike) -> bool:
    """Whether a span is another library's and carries some dialect's markers."""
    attrs = span.attributes or {}
    return A.RLHF_RECORD_KIND not in attrs and may_be_foreign(attrs, span.events)


@dataclass(slots=True)
class SpanRecords:
    """What decoding one span gave: its interaction (if any), the feedback it carries, and
    for spans we did not make, the dialect kind (``llm``/``wrapper``) or the skip reason."""

    interaction: Interaction | None = None
    feedback: list[Feedback] = field(default_factory=list)
    foreign: bool = False
    kind: str | None = None
    skipped: str | None = None


def decode_span(span: ReadableSpanLike, *, joined: Sequence[EventView] = ()) -> SpanRecords:
    """Decode one span we did not record ourselves (our producers hand their records to a
    record queue directly): ours from another process exactly, anyone else's through the
    dialect layer. ``joined`` are GenAI log records joined to the span by trace and span id
    (content sent as logs).

    Raises:
        KeyError, ValueError, TypeError: the span claims to be ours but is malformed.
    """
    ctx = span.get_span_context()
    out = SpanRecords()
    # One copy: the SDK's attribute mapping is slow to query key by key.
    attrs = dict(span.attributes or {})
    if A.RLHF_RECORD_KIND in attrs:
        kind = attrs[A.RLHF_RECORD_KIND]
        if kind == A.RECORD_KIND_FEEDBACK:
            out.feedback.append(_feedback_from_attributes(attrs, span.start_time, ctx))
        elif kind == A.RECORD_KIND_INTERACTION:
            out.interaction = _interaction_from_span(span, attrs, ctx)
    elif attrs or joined:
        found = decode_foreign(span, attrs, joined)
        if found is not None:
            out.foreign = True
            out.interaction, out.kind, out.skipped = found.interaction, found.kind, found.reason
    for event in span.events:
        if event.name in FEEDBACK_EVENT_NAMES and event.attributes:
            out.feedback.append(
                _feedback_from_attributes(dict(event.attributes), event.timestamp, ctx)
            )
    return out


def records_from_span(span: ReadableSpanLike) -> tuple[Interaction | None, list[Feedback]]:
    """The interaction a span is (if any) and the feedback it carries (span or events);
    see :func:`decode_span`, which also says why a foreign span was skipped.

    Raises:
        KeyError, ValueError, TypeError: the span claims to be ours but is malformed.
    """
    found = decode_span(span)
    return found.interaction, found.feedback
