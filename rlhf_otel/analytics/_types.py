"""The result types of ``get_analytics``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from rlhf_otel.analytics._rank import RankingResult
from rlhf_otel.analytics._text import Issue, Percentiles
from rlhf_otel.records import FeedbackStats

__all__ = [
    "AgreementStats",
    "AnalyticsResult",
    "GroupStats",
    "Interval",
    "LatencyBin",
    "ModelPerformance",
    "Trends",
]

Interval = Literal["hour", "day", "week", "month"]


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Figures of one group of records: a model, user, session, source, or time bucket.

    ``satisfaction`` is the mean over binary (up 1, down 0) and rating feedback (scaled to
    0..1 by each rating's own scale); ``feedback_rate`` is the share of the group's
    interactions that received feedback. ``start`` is set for time buckets.
    """

    key: str
    interactions: int
    feedback: int
    interactions_with_feedback: int
    feedback_rate: float
    by_type: Mapping[str, int]
    thumbs_up: int
    thumbs_down: int
    thumbs_ratio: float | None
    rating_count: int
    rating_average: float | None
    rating_average_normalized: float | None
    satisfaction: float | None
    satisfaction_count: int
    start: datetime | None = None


@dataclass(frozen=True, slots=True)
class Trends:
    """Figures per time bucket (UTC; weeks start on Monday), gaps filled with zeros."""

    interval: Interval
    points: Sequence[GroupStats]


@dataclass(frozen=True, slots=True)
class ModelPerformance:
    """Latency and token percentiles of one model's interactions, next to its satisfaction."""

    model: str
    interactions: int
    latency_ms: Percentiles | None
    time_to_first_token_ms: Percentiles | None
    output_tokens: Percentiles | None
    total_tokens: Percentiles | None
    satisfaction: float | None
    satisfaction_count: int


@dataclass(frozen=True, slots=True)
class LatencyBin:
    """Rated interactions whose latency falls in ``[low, high]``, and their satisfaction."""

    low: float
    high: float
    interactions: int
    satisfaction: float


@dataclass(frozen=True, slots=True)
class AgreementStats:
    """Agreement between users who rated the same interactions.

    ``kind`` is ``"rating"``, ``"binary"`` or ``"dimension:<name>"``. ``items`` counts
    interactions rated by two or more users. Alpha uses the interval metric for ratings and
    dimensions, nominal for binary; ``cohen_kappa`` is the mean over pairs of users with at
    least two items in common (Light's kappa). A figure is ``None`` when undefined.
    """

    kind: str
    items: int
    raters: int
    values: int
    krippendorff_alpha: float | None
    krippendorff_alpha_ordinal: float | None
    krippendorff_alpha_nominal: float | None
    fleiss_kappa: float | None
    cohen_kappa: float | None
    cohen_pairs: int


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return value.to_dict()
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class AnalyticsResult:
    """Everything ``get_analytics`` computed, for one filter.

    ``breakdowns`` maps ``"model"``, ``"user"``, ``"session"`` and ``"source"`` to groups,
    largest first (at most ``breakdown_limit`` each; ``breakdown_groups`` has the full
    counts). ``rankings`` come from comparative feedback between responses of different
    models; ``agreement`` from several users rating the same interaction.
    """

    query: Mapping[str, Any]
    generated_at: datetime
    stats: FeedbackStats
    trends: Trends
    breakdowns: Mapping[str, Sequence[GroupStats]]
    breakdown_groups: Mapping[str, int]
    performance: Sequence[ModelPerformance]
    latency_vs_satisfaction: Sequence[LatencyBin]
    top_issues: Sequence[Issue]
    rankings: RankingResult
    agreement: Sequence[AgreementStats]
    notes: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (times as ISO-8601)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
