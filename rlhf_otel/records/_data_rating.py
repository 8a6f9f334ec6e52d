"""Rating feedback data: a number on a scale, with an optional comment."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rlhf_otel import attributes as A
from rlhf_otel._errors import ValidationError
from rlhf_otel.records._data_common import (
    Attrs,
    clean_number,
    explain,
    finite_number,
    num,
    optional_str,
)
from rlhf_otel.records._model import FeedbackType
from rlhf_otel.records._signals import normalized_rating

if TYPE_CHECKING:
    from rlhf_otel.records._stats import StatsAccumulator

__all__ = ["RatingData"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RatingData:
    """A rating on ``min_rating..max_rating`` with an optional comment."""

    type: ClassVar[FeedbackType] = FeedbackType.RATING
    rating: float
    max_rating: float
    min_rating: float = 1
    comment: str | None = None

    @classmethod
    def from_data(cls, d: Mapping[str, Any]) -> RatingData:
        """From a record's ``data``."""
        return cls(
            rating=d["rating"],
            max_rating=d["max_rating"],
            min_rating=d.get("min_rating", 1),
            comment=d.get("comment"),
        )

    @classmethod
    def from_attributes(cls, attrs: Mapping[str, Any]) -> RatingData:
        """From a feedback span's (or event's) attributes."""
        return cls(
            rating=num(attrs[A.RLHF_FEEDBACK_RATING]),
            min_rating=num(attrs.get(A.RLHF_FEEDBACK_MIN_RATING, 1)),
            max_rating=num(attrs[A.RLHF_FEEDBACK_MAX_RATING]),
            comment=attrs.get(A.RLHF_FEEDBACK_COMMENT),
        )

    def to_data(self) -> dict[str, Any]:
        """The record's ``data`` (schema unchanged)."""
        return {
            "rating": self.rating,
            "min_rating": self.min_rating,
            "max_rating": self.max_rating,
            "comment": self.comment,
        }

    def to_attributes(self, out: Attrs) -> None:
        """Add this type's span attributes and GenAI evaluation names to ``out``."""
        out[A.RLHF_FEEDBACK_RATING] = float(self.rating)
        if self.min_rating != 1:
            out[A.RLHF_FEEDBACK_MIN_RATING] = float(self.min_rating)
        out[A.RLHF_FEEDBACK_MAX_RATING] = float(self.max_rating)
        if self.comment is not None:
            out[A.RLHF_FEEDBACK_COMMENT] = self.comment

    def evaluation(self, out: Attrs) -> None:
        """Add the GenAI evaluation score, label and explanation to ``out``."""
        out[A.GEN_AI_EVALUATION_SCORE_VALUE] = float(self.rating)
        out[A.GEN_AI_EVALUATION_SCORE_LABEL] = f"{self.rating:g}/{self.max_rating:g}"
        explain(out, self.comment)

    @staticmethod
    def validate(d: Mapping[str, Any]) -> dict[str, Any]:
        """A submitted ``data`` checked and cleaned into its stored form (scale 1..5 unless
        given).

        Raises:
            ValidationError: a field is not allowed.
            KeyError: ``rating`` is missing.
        """
        rating = d["rating"]
        max_rating, min_rating = d.get("max_rating", 5), d.get("min_rating", 1)
        if (
            type(max_rating) is int
            and type(min_rating) is int
            and max_rating == 5
            and min_rating == 1
        ):
            hi, lo = 5.0, 1.0  # the default scale, valid as it is (the logger's hot path)
        else:
            hi = finite_number("max_rating", max_rating)
            lo = finite_number("min_rating", min_rating)
            if hi <= lo:
                raise ValidationError(
                    f"max_rating ({hi:g}) must be greater than min_rating ({lo:g})"
                )
        value = finite_number("rating", rating)
        if not lo <= value <= hi:
            raise ValidationError(f"Rating must be between {lo:g} and {hi:g}; got {value:g}")
        return {
            "rating": clean_number(value),
            "min_rating": clean_number(lo),
            "max_rating": clean_number(hi),
            "comment": optional_str("comment", d.get("comment"), allow_empty=True),
        }

    @staticmethod
    def targets(d: Mapping[str, Any]) -> list[str] | None:
        """``None``: the data names no interaction (the feedback's interaction is given
        beside it)."""
        return None

    @staticmethod
    def agreement(d: Mapping[str, Any]) -> list[tuple[str, Hashable]]:
        """(kind, value) pairs people are compared on: the rating as given."""
        return [("rating", float(d["rating"]))]

    @staticmethod
    def form_answers(d: Mapping[str, Any], sides: tuple[str, str] | None) -> dict[str, Any]:
        """The review form's answers that give back this data."""
        return {"rating": d["rating"]}

    @staticmethod
    def summary(d: Mapping[str, Any]) -> str:
        """A stored ``data`` in one line, for listings."""
        return f"{d.get('rating')}/{d.get('max_rating')}" + (
            f" {d['comment']}" if d.get("comment") else ""
        )

    @staticmethod
    def satisfaction(d: Mapping[str, Any]) -> float | None:
        """The rating mapped to 0..1 by its own scale (``None`` when it has none)."""
        return normalized_rating(d)

    @staticmethod
    def stats_add(acc: StatsAccumulator, d: Mapping[str, Any]) -> None:
        """Count a stored ``data`` in ``acc``: the rating, its 0..1 value and its scale."""
        rating = float(d["rating"])
        lo, hi = float(d.get("min_rating", 1)), float(d["max_rating"])
        acc.ratings.append(rating)
        acc.normalized.append((rating - lo) / (hi - lo) if hi > lo else 1.0)
        acc.scales.add((lo, hi))

    @staticmethod
    def stats_remove(acc: StatsAccumulator, d: Mapping[str, Any]) -> None:
        """Take back a stored ``data`` counted by :meth:`stats_add` (its scale stays)."""
        rating = float(d["rating"])
        lo, hi = float(d.get("min_rating", 1)), float(d["max_rating"])
        acc.ratings.remove(rating)
        acc.normalized.remove((rating - lo) / (hi - lo) if hi > lo else 1.0)
