"""The self-contained HTML report (charts as inline SVG)."""

from __future__ import annotations

from rlhf_otel.report._html import write_report

__all__ = [
    "write_report",
]
