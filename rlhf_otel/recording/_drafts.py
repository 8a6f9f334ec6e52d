"""What a producer knows of a record before its span exists (not records themselves)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlhf_otel.records import FeedbackType, TokenUsage

__all__ = ["FeedbackDraft", "InteractionDraft"]


@dataclass(slots=True, kw_only=True)
class InteractionDraft:
    """An interaction's values, validated and redacted, before its span gives it its ids
    and start time. Not a record: :func:`build_interaction` makes the record from it once.
    ``id`` empty means the default id (trace and span id)."""

    id: str = ""
    prompt: str = ""
    response: str = ""
    model: str | None = None
    provider: str | None = None
    model_params: Mapping[str, Any] = field(default_factory=dict)
    latency_ms: float | None = None
    token_usage: TokenUsage | None = None
    user_id: str | None = None
    session_id: str | None = None
    context: Sequence[Mapping[str, Any]] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    response_id: str | None = None
    finish_reasons: Sequence[str] = ()
    error_type: str | None = None
    time_to_first_token_ms: float | None = None


@dataclass(slots=True, kw_only=True)
class FeedbackDraft:
    """A feedback's values, validated and redacted, before its span (or the event on its
    interaction's span) gives it its time and ids; see :func:`build_feedback`."""

    id: str
    interaction_id: str
    type: FeedbackType
    data: Mapping[str, Any]
    user_id: str | None = None
    session_id: str | None = None
    source: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    target_ids: Sequence[str] = ()
    supersedes: str | None = None
