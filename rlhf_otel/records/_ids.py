"""Interaction ids: the span context in text, so feedback can link from anywhere."""

from __future__ import annotations

import random
import re
from typing import Final

from opentelemetry.trace import SpanContext, TraceFlags

from rlhf_otel._errors import ValidationError

__all__ = ["format_span_id", "new_feedback_id", "parse_span_id", "span_context_of", "validate_id"]

_SPAN_ID_RE: Final = re.compile(r"[0-9a-f]{32}-[0-9a-f]{16}")
_SAFE_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,255}")
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)


def format_span_id(trace_id: int, span_id: int) -> str:
    """``<32 hex trace id>-<16 hex span id>``: the default interaction id."""
    return f"{trace_id:032x}-{span_id:016x}"


def parse_span_id(value: str) -> tuple[int, int] | None:
    """The (trace id, span id) that an id of :func:`format_span_id` form encodes, else None."""
    if len(value) != 49 or _SPAN_ID_RE.fullmatch(value) is None:
        return None
    trace_id, span_id = int(value[:32], 16), int(value[33:], 16)
    if trace_id == 0 or span_id == 0:
        return None
    return trace_id, span_id


def span_context_of(value: str) -> SpanContext | None:
    """A remote, sampled span context for a span-context id; ``None`` for any other id."""
    parsed = parse_span_id(value)
    if parsed is None:
        return None
    return SpanContext(parsed[0], parsed[1], is_remote=True, trace_flags=_SAMPLED)


def validate_id(value: object, what: str = "interaction id") -> str:
    """Return ``value`` if it is a well-formed id, else raise :class:`ValidationError`.

    Allowed: the ``<trace>-<span>`` form that ``log_interaction`` returns, or a caller's own
    id of 1-256 characters from ``A-Z a-z 0-9 . _ : @ / + = -`` starting with a letter or digit.
    """
    if isinstance(value, str) and _SAFE_ID_RE.fullmatch(value) is not None:
        return value
    raise ValidationError(
        f"{what} {value!r} is malformed: expected the id returned by log_interaction "
        "('<32 hex>-<16 hex>') or 1-256 characters from A-Z a-z 0-9 . _ : @ / + = - "
        "starting with a letter or digit"
    )


def new_feedback_id() -> str:
    """A random 32-hex id.

    The module-level generator is reseeded after ``fork`` by CPython and costs no
    ``os.urandom`` call (which releases the GIL) on the hot path.
    """
    return f"{random.getrandbits(128):032x}"
