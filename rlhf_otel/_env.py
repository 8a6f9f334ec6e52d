"""Environment variable names read by rlhf-otel (one place, so they are easy to find)."""

from __future__ import annotations

from typing import Final

__all__ = ["FEEDBACK_SECRET"]

FEEDBACK_SECRET: Final = "RLHF_OTEL_FEEDBACK_SECRET"
"""Secret that signs and verifies feedback tokens (``RLHFConfig.feedback_secret``)."""
