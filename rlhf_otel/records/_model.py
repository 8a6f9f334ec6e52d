"""Records, enums and filters: the data model every store and export speaks."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final

__all__ = [
    "SCHEMA_VERSION",
    "BinaryFeedback",
    "ExportFormat",
    "Feedback",
    "FEEDBACK_FILTER_FIELDS",
    "FeedbackFilter",
    "FeedbackSession",
    "FeedbackType",
    "Interaction",
    "INTERACTION_FILTER_FIELDS",
    "FilterCondition",
    "FilterField",
    "InteractionFilter",
    "Sentiment",
    "StorageBackend",
    "TokenUsage",
    "as_utc",
    "format_timestamp",
    "merge_mongo",
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


def format_timestamp(ts: datetime) -> str:
    """UTC ISO-8601 with microseconds and a ``Z``: ``2026-01-02T03:04:05.000006Z``."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts.isoformat(timespec="microseconds") + "Z"


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
        return _matches(self, FEEDBACK_FILTER_FIELDS, fb)

    def conditions(self) -> list[FilterCondition]:
        """The set fields (not ``limit``/``offset``), each with its meaning and value."""
        return _conditions(self, FEEDBACK_FILTER_FIELDS)


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
        return _matches(self, INTERACTION_FILTER_FIELDS, it)

    def conditions(self) -> list[FilterCondition]:
        """The set fields (not ``limit``/``offset``), each with its meaning and value."""
        return _conditions(self, INTERACTION_FILTER_FIELDS)


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


# -- the meaning of each filter field, once ---------------------------------------------


@dataclass(frozen=True, slots=True)
class FilterField:
    """One filter field's meaning in each form a reader needs: a test on a record (the
    memory and JSONL stores), a condition over the analytics engine's views (``?`` per
    parameter; the exports and analytics) and a MongoDB-style condition over a store
    server's row columns (the ZeroDB store)."""

    name: str
    test: Callable[[Any, Any], bool]
    sql: str
    params: Callable[[Any], list[Any]]
    mongo: Callable[[Any], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class FilterCondition:
    """A set filter field and its value."""

    field: FilterField
    value: Any

    def sql(self) -> tuple[str, list[Any]]:
        """The SQL condition and its parameters."""
        return self.field.sql, self.field.params(self.value)

    def mongo(self) -> dict[str, Any]:
        """The MongoDB-style condition (merge several with :func:`merge_mongo`)."""
        return self.field.mongo(self.value)


def _matches(flt: object, fields: Sequence[FilterField], record: object) -> bool:
    for f in fields:
        value = getattr(flt, f.name)
        if value is not None and not f.test(record, value):
            return False
    return True


def _conditions(flt: object, fields: Sequence[FilterField]) -> list[FilterCondition]:
    return [
        FilterCondition(f, value) for f in fields if (value := getattr(flt, f.name)) is not None
    ]


def merge_mongo(conditions: Sequence[FilterCondition], base: dict[str, Any]) -> dict[str, Any]:
    """``base`` and every condition as one MongoDB-style filter (all must hold): operators on
    the same column are combined, two ``$in`` lists intersected."""
    q = dict(base)
    for cond in conditions:
        for column, wanted in cond.mongo().items():
            have = q.get(column)
            if not isinstance(have, dict) or not isinstance(wanted, dict):
                q[column] = wanted
                continue
            merged = dict(have)
            for op, value in wanted.items():
                if op == "$in" and "$in" in merged:
                    value = [v for v in merged["$in"] if v in value]
                merged[op] = value
            q[column] = merged
    return q


def _one(value: Any) -> list[Any]:
    return [value]


def _rating(fb: Feedback) -> float | None:
    return float(fb.data["rating"]) if fb.type is FeedbackType.RATING else None


def _has_target(fb: Feedback, ids: Sequence[str]) -> bool:
    return fb.interaction_id in ids or any(t in ids for t in fb.target_ids)


def _equal(name: str) -> FilterField:
    """A field equal to the record's attribute, view column and row column of that name."""
    return FilterField(
        name,
        lambda r, v: getattr(r, name) == v,
        f"{name} = ?",
        _one,
        lambda v: {name: v},
    )


_START = FilterField(
    "start_time",
    lambda r, v: r.timestamp >= v,
    '"timestamp" >= ?',
    _one,
    lambda v: {"timestamp": {"$gte": format_timestamp(v)}},
)
_END = FilterField(
    "end_time",
    lambda r, v: r.timestamp <= v,
    '"timestamp" <= ?',
    _one,
    lambda v: {"timestamp": {"$lte": format_timestamp(v)}},
)

FEEDBACK_FILTER_FIELDS: Final[tuple[FilterField, ...]] = (
    _START,
    _END,
    FilterField(
        "types",
        lambda fb, v: fb.type in v,
        'list_contains(?, "type")',
        lambda v: [[t.value for t in v]],
        lambda v: {"feedback_type": {"$in": [t.value for t in v]}},
    ),
    _equal("user_id"),
    _equal("session_id"),
    _equal("source"),
    FilterField(
        "interaction_ids",
        _has_target,
        "(list_contains(?, interaction_id) OR len(list_intersect(?, target_ids)) > 0)",
        lambda v: [list(v), list(v)],
        # the rows' target_ids always hold the main target
        lambda v: {"target_ids": {"$in": list(v)}},
    ),
    # a rating bound selects rating feedback only, compared by its raw rating
    FilterField(
        "min_rating",
        lambda fb, v: (r := _rating(fb)) is not None and r >= v,
        "(\"type\" = 'rating' AND rating >= ?)",
        _one,
        lambda v: {"feedback_type": {"$in": ["rating"]}, "rating": {"$gte": v}},
    ),
    FilterField(
        "max_rating",
        lambda fb, v: (r := _rating(fb)) is not None and r <= v,
        "(\"type\" = 'rating' AND rating <= ?)",
        _one,
        lambda v: {"feedback_type": {"$in": ["rating"]}, "rating": {"$lte": v}},
    ),
)
"""What each :class:`FeedbackFilter` field means (see :class:`FilterField`)."""

INTERACTION_FILTER_FIELDS: Final[tuple[FilterField, ...]] = (
    _START,
    _END,
    _equal("user_id"),
    _equal("session_id"),
    _equal("model"),
    FilterField(
        "ids",
        lambda it, v: it.id in v,
        "list_contains(?, id)",
        lambda v: [list(v)],
        lambda v: {"id": {"$in": list(v)}},
    ),
)
"""What each :class:`InteractionFilter` field means (see :class:`FilterField`)."""
