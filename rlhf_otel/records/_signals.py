"""Scores read from feedback payloads, shared by analytics and training exports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["normalized_rating", "weighted_score"]


def normalized_rating(data: Mapping[str, Any]) -> float | None:
    """A rating mapped to 0..1 by its own scale (``min_rating``..``max_rating``)."""
    try:
        rating = float(data["rating"])
        lo = float(data.get("min_rating", 1))
        hi = float(data["max_rating"])
    except (KeyError, TypeError, ValueError):
        return None
    if rating != rating:  # NaN
        return None
    return (rating - lo) / (hi - lo) if hi > lo else 1.0


def weighted_score(data: Mapping[str, Any]) -> float | None:
    """A multi-dimensional feedback's sum(w*d)/sum(w) (every weight 1 when none are given)."""
    dims = data.get("dimensions")
    if not isinstance(dims, Mapping) or not dims:
        return None
    weights = data.get("weights") or {}
    total = 0.0
    wsum = 0.0
    for name, value in dims.items():
        w = float(weights.get(name, 1.0)) if weights else 1.0
        total += w * float(value)
        wsum += w
    return total / wsum if wsum > 0 else None
