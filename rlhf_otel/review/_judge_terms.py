"""The judge conditions of a selection (``judge_disagrees``, ``judge_uncertain``,
``judge_only``, ``judge``), read from its mapping."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from rlhf_otel._errors import ValidationError

__all__ = ["DEFAULT_JUDGE_CONFIDENCE", "JudgeTerms", "judge_terms"]

DEFAULT_JUDGE_CONFIDENCE: Final = 0.5
"""``judge_uncertain: true`` selects verdicts whose confidence is below this."""
_JUDGE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}(@[A-Za-z0-9][A-Za-z0-9._-]{0,31})?")


class JudgeTerms(NamedTuple):
    """The parsed judge conditions."""

    disagrees: bool
    uncertain: float | None
    only: bool
    judge: str | None


def _fail(field: str, message: str) -> ValidationError:
    return ValidationError(f"queue selection.{field}: {message}")


def _flag(d: Mapping[str, Any], key: str) -> bool:
    value = d.get(key, False)
    if not isinstance(value, bool):
        raise _fail(key, f"must be true or false; got {value!r}")
    return value


def judge_terms(d: Mapping[str, Any], *, no_feedback: bool, needs_people: bool) -> JudgeTerms:
    """The judge conditions in selection mapping ``d``; ``needs_people`` when
    ``thumbs_down`` or ``rating_at_most`` is set.

    Raises:
        ValidationError: a bad value or a contradiction, naming the field.
    """
    disagrees = _flag(d, "judge_disagrees")
    only = _flag(d, "judge_only")
    raw = d.get("judge_uncertain", False)
    uncertain: float | None = None
    if raw is True:
        uncertain = DEFAULT_JUDGE_CONFIDENCE
    elif raw is not False and raw is not None:
        ok = isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw)
        if not ok or not 0 < raw <= 1:
            raise _fail(
                "judge_uncertain", f"must be true, false or a confidence 0 < c <= 1; got {raw!r}"
            )
        uncertain = float(raw)
    if no_feedback and disagrees:
        raise _fail(
            "no_feedback", "cannot be combined with judge_disagrees (that needs people's feedback)"
        )
    if only and (disagrees or needs_people):
        raise _fail(
            "judge_only",
            "cannot be combined with judge_disagrees, thumbs_down or rating_at_most "
            "(those need feedback from people)",
        )
    judge = d.get("judge")
    if judge is not None and (not isinstance(judge, str) or _JUDGE.fullmatch(judge) is None):
        raise _fail("judge", f"must be a judge name or name@version; got {judge!r}")
    return JudgeTerms(disagrees, uncertain, only, judge)
