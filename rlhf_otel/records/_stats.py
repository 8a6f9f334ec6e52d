"""Feedback statistics with honest definitions, computed in one pass over a store."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

from rlhf_otel.records._counting import count_feedback
from rlhf_otel.records._feedback_data import stats_add, stats_remove
from rlhf_otel.records._model import (
    Feedback,
    FeedbackFilter,
    Interaction,
    InteractionFilter,
    as_utc,
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
    """Text feedback that counts, with or without a comment (a reviewer's correction may
    come alone): ``count`` equals ``by_type["text"]`` and ``sentiment_distribution`` adds
    up to it (``unspecified``: no sentiment given). ``average_length`` is the mean length of
    the comments, in Unicode code points (0.0 when none has a comment)."""

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
    text_count: int = 0
    text_lengths: list[int] = field(default_factory=list)
    sentiments: Counter[str] = field(default_factory=Counter)
    dim_sums: dict[str, float] = field(default_factory=dict)
    dim_counts: Counter[str] = field(default_factory=Counter)
    dim_wsums: dict[str, float] = field(default_factory=dict)
    dim_weights: dict[str, float] = field(default_factory=dict)
    # the terms of each sum above, so that means are rounded once (math.fsum), as the
    # analytics engine rounds them
    dim_terms: dict[str, tuple[list[float], list[float], list[float]]] = field(default_factory=dict)
    weighted_scores: list[float] = field(default_factory=list)
    multi_count: int = 0
    confidences: list[float] = field(default_factory=list)
    comparative_count: int = 0
    superseded: set[str] = field(default_factory=set)

    def add_interaction_id(self, interaction_id: str) -> None:
        """Count one interaction in range."""
        self.interaction_ids.add(interaction_id)

    def add_interaction(self, it: Interaction) -> None:
        """Count one interaction in range."""
        self.interaction_ids.add(it.id)

    def add_feedback(self, fb: Feedback) -> None:
        """Count one feedback in range."""
        self.add_feedback_fields(
            fb.type.value, fb.data, fb.interaction_id, fb.target_ids, fb.supersedes
        )

    def add_feedback_fields(
        self,
        ftype: str,
        data: Mapping[str, Any],
        interaction_id: str,
        target_ids: Iterable[str] = (),
        supersedes: str | None = None,
    ) -> None:
        """Count one feedback in range from its schema fields.

        ``supersedes`` is only collected here; the caller subtracts the superseded records
        (:meth:`remove_feedback_fields`) once every record is in.
        """
        if supersedes:
            self.superseded.add(supersedes)
        self.total_feedback += 1
        self.by_type[ftype] += 1
        self.targeted.add(interaction_id)
        self.targeted.update(target_ids)
        stats_add(self, ftype, data)

    def remove_feedback_fields(self, ftype: str, data: Mapping[str, Any]) -> None:
        """Take back one feedback added earlier (a superseded version); its targets stay in
        ``targeted`` (the caller decides)."""
        self.total_feedback -= 1
        self.by_type[ftype] -= 1
        if not self.by_type[ftype]:
            del self.by_type[ftype]
        stats_remove(self, ftype, data)

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
        if not self.text_count:
            return None
        sentiments = {"positive": 0, "negative": 0, "neutral": 0, "unspecified": 0}
        sentiments.update(self.sentiments)
        avg = statistics.fmean(self.text_lengths) if self.text_lengths else 0.0
        return TextStats(self.text_count, avg, sentiments)

    def _multi(self) -> MultiDimensionalStats | None:
        if not self.multi_count:
            return None
        return MultiDimensionalStats(
            count=self.multi_count,
            dimension_averages={k: self._sum(k, 0) / self.dim_counts[k] for k in self.dim_sums},
            weighted_dimension_averages={
                k: self._sum(k, 1) / self._sum(k, 2)
                for k in self.dim_wsums
                if self.dim_weights[k] > 0
            },
            average_weighted_score=statistics.fmean(self.weighted_scores)
            if self.weighted_scores
            else None,
        )

    def _sum(self, name: str, which: int) -> float:
        terms = self.dim_terms.get(name)
        if terms is None:  # merged from a saved summary: only the running sums exist
            return (self.dim_sums, self.dim_wsums, self.dim_weights)[which][name]
        return math.fsum(terms[which])

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

    Feedback counts by the one rule (``rlhf_otel.records.count_feedback``): an id once (the
    first stored copy), a superseded version not at all, and one current vote per
    (interaction, type, user), as it stood at ``end``. One pass over the store's scans
    (``rlhf_otel.stores.feedback_stats`` uses a store's own path when it has one). ``end``
    defaults to now; naive times are local time.
    """
    start, end = as_utc(start), as_utc(end) or utc_now()
    acc = StatsAccumulator()
    for it in store.scan_interactions(InteractionFilter(start_time=start, end_time=end)):
        acc.add_interaction(it)

    def in_range(ts: datetime) -> bool:
        return (start is None or ts >= start) and ts <= end

    for fb in count_feedback(store.scan_feedback(), in_range).feedback:
        acc.add_feedback(fb)
    return acc.result(start, end)
