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
    matching ``flt`` (its type list is replaced by ratings), most used scale first.

    Runs on the analytics engine when it is installed (it reads large stores fastest),
    else on a scan of the store.
    """
    base = dataclasses.replace(flt or FeedbackFilter(), types=[FeedbackType.RATING])
    try:
        values = _engine_values(store, base)
    except ImportError:
        values = _scanned_values(store, base)
    out = []
    for (lo, hi), (count, avg, median, dist) in values.items():
        if lo.is_integer() and hi.is_integer() and hi - lo <= 10:
            for v in range(int(lo), int(hi) + 1):
                dist.setdefault(float(v), 0)
        out.append(
            RatingScale(
                low=lo,
                high=hi,
                count=count,
                average=avg,
                median=median,
                average_normalized=(avg - lo) / (hi - lo) if hi > lo else 1.0,
                distribution=dict(sorted(dist.items())),
            )
        )
    out.sort(key=lambda s: (-s.count, s.low, s.high))
    return out


_Figures = dict[tuple[float, float], tuple[int, float, float, dict[float, int]]]


def _engine_values(store: Store, flt: FeedbackFilter) -> _Figures:
    from rlhf_otel.analytics import open_engine, select_scope

    with open_engine(store) as eng:
        select_scope(
            eng, None, flt, interaction_columns=[],
            feedback_columns=["rating", "min_rating", "max_rating"],
        )  # fmt: skip
        rated = (
            "SELECT rating, coalesce(min_rating, 1) AS lo, coalesce(max_rating, 5) AS hi "
            "FROM fbs WHERE rating IS NOT NULL"
        )
        heads = eng.sql(
            f"SELECT lo, hi, count(*), fsum(rating) / count(*), median(rating) FROM ({rated}) "
            "GROUP BY lo, hi"
        ).fetchall()
        dists = eng.sql(
            f"SELECT lo, hi, rating, count(*) FROM ({rated}) GROUP BY lo, hi, rating"
        ).fetchall()
    out: _Figures = {}
    for lo, hi, n, avg, med in heads:
        out[(float(lo), float(hi))] = (int(n), float(avg), float(med), {})
    for lo, hi, value, n in dists:
        out[(float(lo), float(hi))][3][float(value)] = int(n)
    return out


def _scanned_values(store: Store, flt: FeedbackFilter) -> _Figures:
    scoped = dataclasses.replace(flt, limit=None, offset=0, start_time=None, end_time=None)
    start, end = flt.start_time, flt.end_time

    def in_range(ts: datetime) -> bool:
        return (start is None or ts >= start) and (end is None or ts <= end)

    by_scale: dict[tuple[float, float], list[float]] = {}
    for fb in count_feedback(store.scan_feedback(scoped), in_range).feedback:
        d = fb.data
        try:
            value = float(d["rating"])
            lo, hi = float(d.get("min_rating", 1)), float(d.get("max_rating", 5))
        except (KeyError, TypeError, ValueError):
            continue
        by_scale.setdefault((lo, hi), []).append(value)
    return {
        key: (
            len(vals),
            statistics.fmean(vals),
            statistics.median(vals),
            {float(k): v for k, v in Counter(vals).items()},
        )
        for key, vals in by_scale.items()
    }


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
