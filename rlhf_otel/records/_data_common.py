"""What the feedback data classes share: span value helpers and the checks of submitted data."""

from __future__ import annotations

import json
import math
from typing import Any, Final, TypeAlias

from rlhf_otel import attributes as A
from rlhf_otel._checks import finite_number, optional_str
from rlhf_otel._redact import replace_surrogates
from rlhf_otel.records._schema import json_default

__all__ = [
    "MAX_NAME_CHARS",
    "Attrs",
    "clean_number",
    "explain",
    "finite_number",
    "json_text",
    "loads",
    "num",
    "optional_str",
    "replace_surrogates",
]

Attrs: TypeAlias = dict[str, Any]

MAX_NAME_CHARS: Final = 256
"""Longest dimension name accepted (as the public API's ``MAX_ID_CHARS``)."""


def num(value: object) -> float | int:
    """A span's number back as the int it was, when it was one."""
    assert isinstance(value, (int, float))
    f = float(value)
    return int(f) if f.is_integer() and math.isfinite(f) else f


def json_text(value: object) -> str:
    """Compact JSON for a span attribute."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=json_default)


def loads(value: object, default: Any) -> Any:
    """A span attribute's JSON, or ``default`` when it is missing or not JSON."""
    if not isinstance(value, str):
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default


def explain(out: Attrs, text: str | None) -> None:
    """Add the GenAI evaluation explanation to ``out`` when there is one."""
    if text:
        out[A.GEN_AI_EVALUATION_EXPLANATION] = text


def clean_number(value: float) -> int | float:
    """A whole float as an int (stored as ``4``, not ``4.0``)."""
    return int(value) if value.is_integer() else value
