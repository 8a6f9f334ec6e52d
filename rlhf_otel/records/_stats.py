"""Feedback statistics with honest definitions, computed in one pass over a store."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

from rlhf_otel.records._model import (
    Feedback,
    FeedbackFilter,
    Interaction,
    InteractionFilter,
    utc_now,
)

__all__ = [
    "BinaryStats",
    "ComparativeStats",
    "FeedbackStats",
    "MultiDimensionalStats",
    "RatingStats",
    "StatsAccumulator",
    "TextStats",
    "compute_stats",
]


@dataclass(frozen=True, slots=True)
class BinaryStats:
    """Thumbs counts; ``ratio`` is up / (up + down)."""

    thumbs_up: int
    thumbs_down: int
    ratio: float


@dataclass(frozen=True, slots=True)
class RatingStats:
    """Ratings: raw figures, and figures normalised to 0..1 by each rating's own scale.

    ``median`` is the true median (mean of the two middle values for an even count).
    ``distribution`` maps each rating value to its count, zero-filled over ``min..max``
    when every rating uses the same integer scale.
    """

    count: int
    average: float
    median: float
    average_normalized: float
    median_normalized: float
    distribution: Mapping[float, int]


@dataclass(frozen=True, slots=True)
class TextStats:
    """Text feedback; ``average_length`` counts Unicode code points."""

    count: int
    average_length: float
    sentiment_distribution: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class MultiDimensionalStats:
    """Per-dimension means, plain and weighted by each feedback's own weights.

    ``average_weighted_score`` is the mean over feedback of sum(w*d)/sum(w) (weights 1 when
    a feedback gives none).
    """

    count: int
    dimension_averages: Mapping[str, float]
    weighted_dimension_averages: Mapping[str, float]
    average_weighted_score: float | None


@dataclass(frozen=True, slots=True)
class ComparativeStats:
    """Comparisons; ``average_confidence`` is ``None`` when none gave a confidence."""

    count: int
    average_confidence: float | None


@dataclass(frozen=True, slots=True)
class FeedbackStats:
    """The guide's statistics. A section is ``None`` when no feedback of its type is in range.

    ``feedback_rate`` is the share (0..1) of the interactions in range that received at
    least one feedback in range.
    """

    total_interactions: int
    total_feedback: int
    feedback_rate: float
    time_range: tuple[datetime | None, datetime]
    by_type: Mapping[str, int]
    binary: BinaryStats | None = None
    rating: RatingStats | None = None
    text: TextStats | None = None
    multi_dimensional: MultiDimensionalStats | None = None
    comparative: ComparativeStats | None = None
    interactions_with_feedback: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (times as ISO-8601, distribution keys as strings)."""
        out = asdict(self)
        start, end = self.time_range
        out["time_range"] = {
            "start": None if start is None else start.isoformat(),
            "end": end.isoformat(),
        }
        if out["rating"] is not None:
            out["rating"]["distribution"] = {
                f"{k:g}": v
                for k, v in self.rating.distribution.items()  # type: ignore[union-attr]
            }
        return out


@dataclass(slots=True)
class StatsAccumulator:
    """Feed records (or their schema dicts' fields) one at a time; ``result()`` at the end.

    Stores that can read faster than the record classes allow (e.g. raw JSONL lines) call
    :meth:`add_interaction_id` and :meth:`add_feedback_fields` directly.
    """

    interaction_ids: set[str] = field(default_factory=set)
    targeted: set[str] = field(default_factory=set)
    total_feedback: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    thumbs_up: int = 0
    thumbs_down: int = 0
    ratings: list[float] = field(default_factory=list)
    normalized: list[float] = field(default_factory=list)
    scales: set[tuple[float, float]] = field(default_factory=set)
    text_lengths: list[int] = field(default_factory=list)
    sentiments: Counter[str] = field(default_factory=Counter)
    dim_sums: dict[str, float] = field(default_factory=dict)
    dim_counts: Counter[str] = field(default_factory=Counter)
    dim_wsums: dict[str, float] = field(default_factory=dict)
    dim_weights: dict[str, float] = field(default_factory=dict)
    weighted_scores: list[float] = field(default_factory=list)
    multi_count: int = 0
    confidences: list[float] = field(default_factory=list)
    comparative_count: int = 0

    def add_interaction_id(self, interaction_id: str) -> None:
        """Count one interaction in range."""
        self.interaction_ids.add(interaction_id)

    def add_interaction(self, it: Interaction) -> None:
        """Count one interaction in range."""
        self.interaction_ids.add(it.id)

    def add_feedback(self, fb: Feedback) -> None:
        """Count one feedback in range."""
        self.add_feedback_fields(fb.type.value, fb.data, fb.interaction_id, fb.target_ids)

    def add_feedback_fields(
        self,
        ftype: str,
        data: Mapping[str, Any],
        interaction_id: str,
        target_ids: Iterable[str] = (),
    ) -> None:
        """Count one feedback in range from its schema fields."""
        self.total_feedback += 1
        self.by_type[ftype] += 1
        self.targeted.add(interaction_id)
        self.targeted.update(target_ids)
        if ftype == "binary":
            if data["value"] == "thumbs_up":
                self.thumbs_up += 1
            else:
                self.thumbs_down += 1
        elif ftype == "rating":
            rating = float(data["rating"])
            lo, hi = float(data.get("min_rating", 1)), float(data["max_rating"])
            self.ratings.append(rating)
            self.normalized.append((rating - lo) / (hi - lo) if hi > lo else 1.0)
            self.scales.add((lo, hi))
        elif ftype == "text":
            self.text_lengths.append(len(data["comment"]))
            self.sentiments[data.get("sentiment") or "unspecified"] += 1
        elif ftype == "multi_dimensional":
            self.multi_count += 1
            dims: Mapping[str, float] = data["dimensions"]
            weights: Mapping[str, float] = data.get("weights") or {}
            wsum = 0.0
            score = 0.0
            for name, value in dims.items():
                w = float(weights.get(name, 1.0)) if weights else 1.0
                self.dim_sums[name] = self.dim_sums.get(name, 0.0) + value
                self.dim_counts[name] += 1
                self.dim_wsums[name] = self.dim_wsums.get(name, 0.0) + w * value
                self.dim_weights[name] = self.dim_weights.get(name, 0.0) + w
                wsum += w
                score += w * value
            if wsum > 0:
                self.weighted_scores.append(score / wsum)
        elif ftype == "comparative":
            self.comparative_count += 1
            if data.get("confidence_level") is not None:
                self.confidences.append(float(data["confidence_level"]))

    def result(self, start: datetime | None, end: datetime) -> FeedbackStats:
        """The statistics of everything added."""
        n_int = len(self.interaction_ids)
        with_fb = len(self.interaction_ids & self.targeted) if n_int else 0
        return FeedbackStats(
            total_interactions=n_int,
            total_feedback=self.total_feedback,
            feedback_rate=with_fb / n_int if n_int else 0.0,
            time_range=(start, end),
            by_type=dict(self.by_type),
            binary=self._binary(),
            rating=self._rating(),
            text=self._text(),
            multi_dimensional=self._multi(),
            comparative=self._comparative(),
            interactions_with_feedback=with_fb,
        )

    def _binary(self) -> BinaryStats | None:
        n = self.thumbs_up + self.thumbs_down
        if not n:
            return None
        return BinaryStats(self.thumbs_up, self.thumbs_down, self.thumbs_up / n)

    def _rating(self) -> RatingStats | None:
        if not self.ratings:
            return None
        dist: Counter[float] = Counter(self.ratings)
        if len(self.scales) == 1:
            lo, hi = next(iter(self.scales))
            if lo.is_integer() and hi.is_integer() and hi - lo <= 100:
                for value in range(int(lo), int(hi) + 1):
                    dist.setdefault(float(value), 0)
        return RatingStats(
            count=len(self.ratings),
            average=statistics.fmean(self.ratings),
            median=float(statistics.median(self.ratings)),
            average_normalized=statistics.fmean(self.normalized),
            median_normalized=float(statistics.median(self.normalized)),
            distribution=dict(sorted(dist.items())),
        )

    def _text(self) -> TextStats | None:
        if not self.text_lengths:
            return None
        sentiments = {"positive": 0, "negative": 0, "neutral": 0, "unspecified": 0}
        sentiments.update(self.sentiments)
        return TextStats(len(self.text_lengths), statistics.fmean(self.text_lengths), sentiments)

    def _multi(self) -> MultiDimensionalStats | None:
        if not self.multi_count:
            return None
        return MultiDimensionalStats(
            count=self.multi_count,
            dimension_averages={k: self.dim_sums[k] / self.dim_counts[k] for k in self.dim_sums},
            weighted_dimension_averages={
                k: self.dim_wsums[k] / self.dim_weights[k]
                for k in self.dim_wsums
                if self.dim_weights[k] > 0
            },
            average_weighted_score=statistics.fmean(self.weighted_scores)
            if self.weighted_scores
            else None,
        )

    def _comparative(self) -> ComparativeStats | None:
        if not self.comparative_count:
            return None
        avg = statistics.fmean(self.confidences) if self.confidences else None
        return ComparativeStats(self.comparative_count, avg)


class _Scannable(Protocol):
    """What stats need of a store (the Store Protocol's reads; stores depend on records,
    not the other way round)."""

    def scan_interactions(self, flt: InteractionFilter | None = None) -> Iterable[Interaction]: ...

    def scan_feedback(self, flt: FeedbackFilter | None = None) -> Iterable[Feedback]: ...


def compute_stats(
    store: _Scannable, start: datetime | None = None, end: datetime | None = None
) -> FeedbackStats:
    """Statistics of the records whose timestamp is in ``[start, end]`` (inclusive).

    A store with its own ``compute_stats(start, end)`` (a faster path) is asked first.
    ``end`` defaults to now.
    """
    end = end or utc_now()
    pushed = getattr(store, "compute_stats", None)
    if pushed is not None:
        result: FeedbackStats = pushed(start, end)
        return result
    acc = StatsAccumulator()
    for it in store.scan_interactions(InteractionFilter(start_time=start, end_time=end)):
        acc.add_interaction(it)
    for fb in store.scan_feedback(FeedbackFilter(start_time=start, end_time=end)):
        acc.add_feedback(fb)
    return acc.result(start, end)
