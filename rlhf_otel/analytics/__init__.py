"""Analytics over any store: trends, breakdowns, percentiles, rankings, agreement."""

from __future__ import annotations

from rlhf_otel.analytics._agree import cohen_kappa, fleiss_kappa, krippendorff_alpha
from rlhf_otel.analytics._compute import get_analytics
from rlhf_otel.analytics._text import Percentiles
from rlhf_otel.analytics._types import AgreementStats, AnalyticsResult

__all__ = [
    "AgreementStats",
    "AnalyticsResult",
    "Percentiles",
    "cohen_kappa",
    "fleiss_kappa",
    "get_analytics",
    "krippendorff_alpha",
]
