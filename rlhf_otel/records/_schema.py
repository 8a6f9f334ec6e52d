"""The versioned record schema: records to plain dicts and back (JSONL lines, exports)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

from rlhf_otel._errors import ValidationError
from rlhf_otel.records._model import (
    SCHEMA_VERSION,
    Feedback,
    FeedbackType,
    Interaction,
    TokenUsage,
    format_timestamp,
)

__all__ = [
    "json_default",
    "feedback_from_dict",
    "feedback_to_dict",
    "format_timestamp",
    "interaction_from_dict",
    "interaction_to_dict",
    "parse_timestamp",
    "record_from_dict",
]


def parse_timestamp(value: str) -> datetime:
    """Inverse of :func:`format_timestamp`; accepts any ISO-8601 form (naive means UTC)."""
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    ts = datetime.fromisoformat(value)
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def interaction_to_dict(it: Interaction) -> dict[str, Any]:
    """The schema form of an interaction (every field present, ``None`` where unknown)."""
    usage = it.token_usage
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "interaction",
        "id": it.id,
        "timestamp": format_timestamp(it.timestamp),
        "prompt": it.prompt,
        "response": it.response,
        "model": it.model,
        "provider": it.provider,
        "model_params": dict(it.model_params),
        "latency_ms": it.latency_ms,
        "token_usage": None
        if usage is None
        else {"prompt": usage.prompt, "completion": usage.completion, "total": usage.total},
        "user_id": it.user_id,
        "session_id": it.session_id,
        "context": [dict(m) for m in it.context],
        "metadata": dict(it.metadata),
        "response_id": it.response_id,
        "finish_reasons": list(it.finish_reasons),
        "error_type": it.error_type,
        "time_to_first_token_ms": it.time_to_first_token_ms,
        "trace_id": it.trace_id,
        "span_id": it.span_id,
    }


def feedback_to_dict(fb: Feedback) -> dict[str, Any]:
    """The schema form of a feedback (every field present, ``None`` where unknown)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "feedback",
        "id": fb.id,
        "interaction_id": fb.interaction_id,
        "type": fb.type.value,
        "data": dict(fb.data),
        "timestamp": format_timestamp(fb.timestamp),
        "user_id": fb.user_id,
        "session_id": fb.session_id,
        "source": fb.source,
        "metadata": dict(fb.metadata),
        "target_ids": list(fb.target_ids),
        "trace_id": fb.trace_id,
        "span_id": fb.span_id,
        "supersedes": fb.supersedes,
    }


def _check_version(d: Mapping[str, Any]) -> None:
    version = d.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValidationError(
            f"record schema_version {version!r} is newer than this release reads "
            f"(1..{SCHEMA_VERSION}); upgrade rlhf-otel"
        )


def interaction_from_dict(d: Mapping[str, Any]) -> Interaction:
    """Parse the schema form of an interaction."""
    _check_version(d)
    usage = d.get("token_usage")
    return Interaction(
        id=d["id"],
        prompt=d.get("prompt") or "",
        response=d.get("response") or "",
        timestamp=parse_timestamp(d["timestamp"]),
        model=d.get("model"),
        provider=d.get("provider"),
        model_params=d.get("model_params") or {},
        latency_ms=d.get("latency_ms"),
        token_usage=None
        if usage is None
        else TokenUsage(usage.get("prompt"), usage.get("completion"), usage.get("total")),
        user_id=d.get("user_id"),
        session_id=d.get("session_id"),
        context=tuple(d.get("context") or ()),
        metadata=d.get("metadata") or {},
        response_id=d.get("response_id"),
        finish_reasons=tuple(d.get("finish_reasons") or ()),
        error_type=d.get("error_type"),
        time_to_first_token_ms=d.get("time_to_first_token_ms"),
        trace_id=d.get("trace_id"),
        span_id=d.get("span_id"),
    )


def feedback_from_dict(d: Mapping[str, Any]) -> Feedback:
    """Parse the schema form of a feedback."""
    _check_version(d)
    return Feedback(
        id=d["id"],
        interaction_id=d["interaction_id"],
        type=FeedbackType(d["type"]),
        data=d.get("data") or {},
        timestamp=parse_timestamp(d["timestamp"]),
        user_id=d.get("user_id"),
        session_id=d.get("session_id"),
        source=d.get("source"),
        metadata=d.get("metadata") or {},
        target_ids=tuple(d.get("target_ids") or (d["interaction_id"],)),
        trace_id=d.get("trace_id"),
        span_id=d.get("span_id"),
        supersedes=d.get("supersedes"),
    )


def record_from_dict(d: Mapping[str, Any]) -> Interaction | Feedback:
    """Parse either kind, by its ``kind`` field."""
    kind = d.get("kind")
    if kind == "interaction":
        return interaction_from_dict(d)
    if kind == "feedback":
        return feedback_from_dict(d)
    raise ValidationError(f"record kind {kind!r} is unknown; expected 'interaction' or 'feedback'")


def json_default(value: object) -> object:
    """What JSON encoders write for a value they cannot: dates and times as ISO-8601, sets
    and tuples as lists, decimals as numbers, bytes as hex, UUIDs as text, anything else as
    its ``repr`` (serialisation never raises). The one fallback of every encoder here."""
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, UUID):
        return str(value)
    return repr(value)
