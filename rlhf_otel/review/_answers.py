"""A review's answers checked against the rubric and turned into feedback to log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from rlhf_otel._errors import ValidationError
from rlhf_otel.records import FeedbackType
from rlhf_otel.review._spec import Rubric

__all__ = ["plan_answers"]

_VOTES: Final = {"A": "A", "B": "B", "tie": "tie", "both_bad": "both_bad"}


def plan_answers(
    rubric: Rubric, sides: tuple[str, str] | None, answers: Mapping[str, Any]
) -> list[tuple[FeedbackType, dict[str, Any]]]:
    """The feedback to log for ``answers``, checked against ``rubric`` (``sides``: a pair
    as the reviewer saw it, A first). Every missing or bad answer is named in one error.

    Raises:
        ValidationError: an answer does not fit the rubric (nothing is to be logged).
    """
    types = set(rubric.types)
    unknown = set(answers) - {
        "binary", "rating", "dimensions", "comment", "correction", "vote",
    }  # fmt: skip
    if unknown:
        raise ValidationError(f"answers has unknown field(s) {sorted(unknown)}")
    comment = _text(answers.get("comment"), "comment")
    correction = _text(answers.get("correction"), "correction")
    plan: list[tuple[FeedbackType, dict[str, Any]]] = []
    if "comparative" in types and sides is not None:
        vote = answers.get("vote")
        if vote not in _VOTES:
            raise ValidationError("vote must be A, B, tie or both_bad (keys A, B, T, X)")
        a, b = sides
        data: dict[str, Any] = {"reason": comment}
        if vote in ("A", "B"):
            win, lose = (a, b) if vote == "A" else (b, a)
            data.update(preferred_response_id=win, compared_response_ids=[lose])
        else:
            data.update(preferred_response_id=a, compared_response_ids=[b], outcome=vote)
        plan.append((FeedbackType.COMPARATIVE, data))
        return plan
    missing: list[str] = []
    if "binary" in types:
        value = answers.get("binary")
        if value not in ("thumbs_up", "thumbs_down"):
            missing.append("binary: thumbs_up or thumbs_down (keys U, D)")
        else:
            plan.append((FeedbackType.BINARY, {"value": value}))
    lo, hi = rubric.scale
    if "rating" in types:
        rating = answers.get("rating")
        if isinstance(rating, bool) or not isinstance(rating, int) or not lo <= rating <= hi:
            missing.append(f"rating: a whole number {lo}..{hi}")
        else:
            plan.append(
                (FeedbackType.RATING, {"rating": rating, "min_rating": lo, "max_rating": hi})
            )
    if "multi_dimensional" in types:
        dims = answers.get("dimensions")
        names = list(rubric.dimensions)
        if not isinstance(dims, Mapping):
            dims = {}
        extra = sorted(set(dims) - set(names))
        if extra:
            missing.append(f"dimensions: unknown {', '.join(map(str, extra))}")
        for name in names:
            v = dims.get(name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                missing.append(f"dimension {name}: a whole number {lo}..{hi}")
        if not any(m.startswith("dimension") for m in missing):
            plan.append(
                (
                    FeedbackType.MULTI_DIMENSIONAL,
                    {
                        "dimensions": {n: dims[n] for n in names},
                        "weights": dict(rubric.dimensions),
                    },
                )
            )
    if missing:
        raise ValidationError("missing or not allowed: " + "; ".join(missing))
    if "text" in types and (comment or correction):
        plan.append((FeedbackType.TEXT, {"comment": comment, "correction": correction}))
    elif comment or correction:
        raise ValidationError("this queue's rubric has no text feedback (comment/correction)")
    return plan


def _text(value: object, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string")
    return value if value.strip() else None
