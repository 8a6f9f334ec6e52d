"""Analytics over any store: trends, breakdowns, percentiles, rankings, agreement."""

from __future__ import annotations

from rlhf_otel.analytics._compute import get_analytics
from rlhf_otel.analytics._text import Percentiles
from rlhf_otel.analytics._types import AnalyticsResult

__all__ = [
    "AnalyticsResult",
    "Percentiles",
    "get_analytics",
]
