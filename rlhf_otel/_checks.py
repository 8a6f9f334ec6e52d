"""Checks of single values shared by the public API's validation and the feedback data
classes (below both, so neither imports the other for them)."""

from __future__ import annotations

import math

from rlhf_otel._errors import ValidationError
from rlhf_otel._redact import replace_surrogates

__all__ = ["finite_number", "optional_str"]


def finite_number(name: str, value: object) -> float:
    """``value`` as a float if it is a finite int or float (``bool`` is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(
            f"{name} must be a finite number; got {type(value).__name__} {value!r}"
        )
    if not math.isfinite(value):
        raise ValidationError(f"{name} must be a finite number; got {value!r}")
    return float(value)


def optional_str(name: str, value: object, *, allow_empty: bool = False) -> str | None:
    """``value`` if it is ``None`` or a string (non-empty unless ``allow_empty``)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string or None; got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ValidationError(f"{name} must not be empty or only whitespace")
    return replace_surrogates(value)
