"""Ratings per scale: figures of 1-5 and 0-100 ratings are never averaged together."""

from __future__ import annotations

import dataclasses
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rlhf_otel.records import FeedbackFilter, FeedbackType, count_feedback
from rlhf_otel.stores import Store

__all__ = ["RatingScale", "clear_winner", "combined_normalized", "rating_scales"]


@dataclass(frozen=True, slots=True)
class RatingScale:
    """The ratings given on one scale (``low``..``high``): raw figures on that scale, and the
    average normalised to 0..1 by it."""

    low: float
    high: float
    count: int
    average: float
    median: float
    average_normalized: float
    distribution: dict[float, int]

    @property
    def label(self) -> str:
        """``"1-5"``."""
        return f"{self.low:g}-{self.high:g}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (distribution keys as strings)."""
        d = dataclasses.asdict(self)
        d["distribution"] = {f"{k:g}": v for k, v in self.distribution.items()}
        d["scale"] = self.label
        return d


def rating_scales(store: Store, flt: FeedbackFilter | None = None) -> list[RatingScale]:
    """Rating figures per scale of the counting ratings (``rlhf_otel.records.count_feedback``)
    matching ``flt`` (its type list is replaced by ratings), most used scale first."""
    base = flt or FeedbackFilter()
    scoped = dataclasses.replace(
        base, types=[FeedbackType.RATING], limit=None, offset=0, start_time=None, end_time=None
    )
    start, end = base.start_time, base.end_time

    def in_range(ts: datetime) -> bool:
        return (start is None or ts >= start) and (end is None or ts <= end)

    counted = count_feedback(store.scan_feedback(scoped), in_range)
    by_scale: dict[tuple[float, float], list[float]] = {}
    for fb in counted.feedback:
        d = fb.data
        try:
            value = float(d["rating"])
            lo, hi = float(d.get("min_rating", 1)), float(d.get("max_rating", 5))
        except (KeyError, TypeError, ValueError):
            continue
        by_scale.setdefault((lo, hi), []).append(value)
    out = []
    for (lo, hi), values in by_scale.items():
        dist = Counter(values)
        if lo.is_integer() and hi.is_integer() and hi - lo <= 10:
            for v in range(int(lo), int(hi) + 1):
                dist.setdefault(float(v), 0)
        avg = statistics.fmean(values)
        out.append(
            RatingScale(
                low=lo,
                high=hi,
                count=len(values),
                average=avg,
                median=statistics.median(values),
                average_normalized=(avg - lo) / (hi - lo) if hi > lo else 1.0,
                distribution=dict(sorted(dist.items())),
            )
        )
    out.sort(key=lambda s: (-s.count, s.low, s.high))
    return out


def combined_normalized(scales: Sequence[RatingScale]) -> float | None:
    """The mean of every rating normalised to 0..1 by its own scale (``None``: no ratings)."""
    n = sum(s.count for s in scales)
    return sum(s.average_normalized * s.count for s in scales) / n if n else None


def clear_winner(models: Sequence[Any]) -> str | None:
    """The top-ranked model when its interval lies above every other model's, else ``None``
    (``models`` are ``ModelRanking``-like: ``model``, ``ci_low``, ``ci_high``, best first)."""
    if not models:
        return None
    top, rest = models[0], models[1:]
    if all(top.ci_low > other.ci_high for other in rest):
        return str(top.model)
    return None
