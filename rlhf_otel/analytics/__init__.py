"""Analytics building blocks other packages use: agreement coefficients and their results."""

from __future__ import annotations

from rlhf_otel.analytics._agree import cohen_kappa, fleiss_kappa, krippendorff_alpha
from rlhf_otel.analytics._types import AgreementStats

__all__ = ["AgreementStats", "cohen_kappa", "fleiss_kappa", "krippendorff_alpha"]
