"""The self-contained HTML report (charts as inline SVG).

Example::

    from rlhf_otel.report import rating_scales, write_report

    write_report(logger.get_analytics(), "report.html",
                 rating_scales=rating_scales(logger.store))
"""

from __future__ import annotations

from rlhf_otel.report._html import write_report
from rlhf_otel.report._scales import RatingScale, clear_winner, combined_normalized, rating_scales

__all__ = [
    "RatingScale",
    "clear_winner",
    "combined_normalized",
    "rating_scales",
    "write_report",
]
