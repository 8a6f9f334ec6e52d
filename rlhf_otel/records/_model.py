"""Records, enums and filters: the data model every store and export speaks."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final

__all__ = [
    "SCHEMA_VERSION",
    "BinaryFeedback",
    "ExportFormat",
    "Feedback",
    "FeedbackFilter",
    "FeedbackSession",
    "FeedbackType",
    "Interaction",
    "InteractionFilter",
    "Sentiment",
    "StorageBackend",
    "TokenUsage",
    "as_utc",
]

SCHEMA_VERSION: Final = 1
"""Version of the record schema written by this release (README, "Record schema")."""


class FeedbackType(str, enum.Enum):
    """The five kinds of feedback, with the guide's string values."""

    BINARY = "binary"
    RATING = "rating"
    TEXT = "text"
    MULTI_DIMENSIONAL = "multi_dimensional"
    COMPARATIVE = "comparative"


class BinaryFeedback(str, enum.Enum):
    """Thumbs up or down."""

    THUMBS_UP = "thumbs_up"
    THUMBS_DOWN = "thumbs_down"


class Sentiment(str, enum.Enum):
    """Sentiment of a text feedback."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    NEUTRAL = "neutral"


class StorageBackend(str, enum.Enum):
    """Where records go, with the guide's string values."""

    ZERODB = "zerodb"
    LOCAL = "local"
    CUSTOM = "custom"
    MEMORY = "memory"


class ExportFormat(str, enum.Enum):
    """Export formats: records, training sets (``dpo`` .. ``sft``), and the Parquet lake."""

    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"
    DPO = "dpo"
    KTO = "kto"
    REWARD = "reward"
    SFT = "sft"
    PARQUET_LAKE = "parquet-lake"


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one interaction; a count the source did not report stays ``None``."""

    prompt: int | None = None
    completion: int | None = None
    total: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Interaction:
    """One exchange between a user and a model, as stored. Frozen.

    ``timestamp`` is the start of the call (UTC); ``context`` holds the messages sent before
    the prompt as ``{"role", "content"}`` mappings; ``feedback_ids`` is filled when the
    interaction is read through the logger.
    """

    id: str
    prompt: str
    response: str
    timestamp: datetime
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
    trace_id: str | None = None
    span_id: str | None = None
    feedback_ids: Sequence[str] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Feedback:
    """One piece of human feedback on one or more interactions. Frozen.

    ``data`` holds the payload of ``type`` (README, "Record schema"); ``target_ids`` names
    every interaction it is about (the preferred one first for comparative feedback);
    ``interaction_id`` is the main target. ``supersedes`` names the earlier version of
    this feedback that it replaces (a changed vote); a superseded record does not count in
    stats, analytics or exports.
    """

    id: str
    interaction_id: str
    type: FeedbackType
    data: Mapping[str, Any]
    timestamp: datetime
    user_id: str | None = None
    session_id: str | None = None
    source: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    target_ids: Sequence[str] = ()
    trace_id: str | None = None
    span_id: str | None = None
    supersedes: str | None = None


@dataclass(slots=True, kw_only=True)
class FeedbackSession:
    """A user's session: the interactions and feedback logged while it was current."""

    id: str
    start_time: datetime
    user_id: str | None = None
    end_time: datetime | None = None
    interaction_ids: list[str] = field(default_factory=list)
    feedback_ids: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def as_utc(ts: datetime | None) -> datetime | None:
    """``ts`` as an aware UTC datetime; a naive ``ts`` is local time (as ``datetime.now()``)."""
    if ts is None or ts.tzinfo is timezone.utc:
        return ts
    return ts.astimezone(timezone.utc)


def _utc_range(flt: FeedbackFilter | InteractionFilter) -> None:
    for name in ("start_time", "end_time"):
        value = getattr(flt, name)
        if value is not None and value.tzinfo is not timezone.utc:
            object.__setattr__(flt, name, as_utc(value))


def _in_range(ts: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or ts >= start) and (end is None or ts <= end)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackFilter:
    """Which feedback to read. Every field is optional; set fields must all match.

    Times are inclusive; a naive time is local time (converted to UTC here, so every store
    answers alike). ``min_rating``/``max_rating`` compare the raw rating and, when either is
    set, only rating feedback matches. ``limit=0`` returns nothing.
    """

    start_time: datetime | None = None
    end_time: datetime | None = None
    types: Sequence[FeedbackType] | None = None
    user_id: str | None = None
    session_id: str | None = None
    interaction_ids: Sequence[str] | None = None
    min_rating: float | None = None
    max_rating: float | None = None
    source: str | None = None
    limit: int | None = None
    offset: int = 0

    def __post_init__(self) -> None:
        _utc_range(self)

    def matches(self, fb: Feedback) -> bool:
        """Whether ``fb`` passes every field except ``limit`` and ``offset``."""
        if not _in_range(fb.timestamp, self.start_time, self.end_time):
            return False
        if self.types is not None and fb.type not in self.types:
            return False
        if self.user_id is not None and fb.user_id != self.user_id:
            return False
        if self.session_id is not None and fb.session_id != self.session_id:
            return False
        if self.source is not None and fb.source != self.source:
            return False
        if self.interaction_ids is not None and not (
            fb.interaction_id in self.interaction_ids
            or any(t in self.interaction_ids for t in fb.target_ids)
        ):
            return False
        if self.min_rating is not None or self.max_rating is not None:
            if fb.type is not FeedbackType.RATING:
                return False
            rating = float(fb.data["rating"])
            if self.min_rating is not None and rating < self.min_rating:
                return False
            if self.max_rating is not None and rating > self.max_rating:
                return False
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class InteractionFilter:
    """Which interactions to read. Every field is optional; set fields must all match.

    Times are inclusive; a naive time is local time (converted to UTC here).
    """

    start_time: datetime | None = None
    end_time: datetime | None = None
    user_id: str | None = None
    session_id: str | None = None
    model: str | None = None
    ids: Sequence[str] | None = None
    limit: int | None = None
    offset: int = 0

    def __post_init__(self) -> None:
        _utc_range(self)

    def matches(self, it: Interaction) -> bool:
        """Whether ``it`` passes every field except ``limit`` and ``offset``."""
        return (
            _in_range(it.timestamp, self.start_time, self.end_time)
            and (self.user_id is None or it.user_id == self.user_id)
            and (self.session_id is None or it.session_id == self.session_id)
            and (self.model is None or it.model == self.model)
            and (self.ids is None or it.id in self.ids)
        )


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)
