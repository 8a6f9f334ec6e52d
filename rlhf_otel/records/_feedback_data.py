"""Typed feedback data: one frozen dataclass per feedback type, a tagged union on ``type``.

Each class is the one place that knows its type's fields, how they are stored (the
``data`` mapping of the record schema, unchanged), how they travel on a span (``rlhf.*``
attributes and the GenAI evaluation names) and how they read back from one.

Example::

    data = feedback_data(fb)              # RatingData(rating=4, max_rating=5, ...)
    if isinstance(data, RatingData):
        print(data.rating / data.max_rating)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

from rlhf_otel import attributes as A
from rlhf_otel.records._model import Feedback, FeedbackType
from rlhf_otel.records._schema import json_default

__all__ = [
    "BinaryData",
    "ComparativeData",
    "FeedbackData",
    "MultiDimensionalData",
    "RatingData",
    "TextData",
    "data_class",
    "feedback_data",
]

Attrs: TypeAlias = dict[str, Any]


def _num(value: object) -> float | int:
    assert isinstance(value, (int, float))
    f = float(value)
    return int(f) if f.is_integer() and math.isfinite(f) else f


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=json_default)


def _loads(value: object, default: Any) -> Any:
    if not isinstance(value, str):
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default


def _explain(out: Attrs, text: str | None) -> None:
    if text:
        out[A.GEN_AI_EVALUATION_EXPLANATION] = text


@dataclass(frozen=True, slots=True, kw_only=True)
class BinaryData:
    """Thumbs up or down: ``value`` is ``thumbs_up`` or ``thumbs_down``."""

    type: ClassVar[FeedbackType] = FeedbackType.BINARY
    value: str

    @classmethod
    def from_data(cls, d: Mapping[str, Any]) -> BinaryData:
        """From a record's ``data``."""
        return cls(value=d["value"])

    @classmethod
    def from_attributes(cls, attrs: Mapping[str, Any]) -> BinaryData:
        """From a feedback span's (or event's) attributes."""
        return cls(value=attrs[A.RLHF_FEEDBACK_VALUE])

    def to_data(self) -> dict[str, Any]:
        """The record's ``data`` (schema unchanged)."""
        return {"value": self.value}

    def to_attributes(self, out: Attrs) -> None:
        """Add this type's ``rlhf.feedback.*`` span attributes to ``out``."""
        out[A.RLHF_FEEDBACK_VALUE] = self.value

    def evaluation(self, out: Attrs) -> None:
        """Add the GenAI evaluation score, label and explanation to ``out``."""
        out[A.GEN_AI_EVALUATION_SCORE_VALUE] = 1.0 if self.value == "thumbs_up" else 0.0
        out[A.GEN_AI_EVALUATION_SCORE_LABEL] = self.value


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
            rating=_num(attrs[A.RLHF_FEEDBACK_RATING]),
            min_rating=_num(attrs.get(A.RLHF_FEEDBACK_MIN_RATING, 1)),
            max_rating=_num(attrs[A.RLHF_FEEDBACK_MAX_RATING]),
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
        _explain(out, self.comment)


@dataclass(frozen=True, slots=True, kw_only=True)
class TextData:
    """A written comment, an optional sentiment, and optionally a better answer."""

    type: ClassVar[FeedbackType] = FeedbackType.TEXT
    comment: str | None = None
    sentiment: str | None = None
    correction: str | None = None

    @classmethod
    def from_data(cls, d: Mapping[str, Any]) -> TextData:
        """From a record's ``data``."""
        return cls(
            comment=d.get("comment"), sentiment=d.get("sentiment"), correction=d.get("correction")
        )

    @classmethod
    def from_attributes(cls, attrs: Mapping[str, Any]) -> TextData:
        """From a feedback span's (or event's) attributes."""
        return cls(
            comment=attrs.get(A.RLHF_FEEDBACK_COMMENT),
            sentiment=attrs.get(A.RLHF_FEEDBACK_SENTIMENT),
            correction=attrs.get(A.RLHF_FEEDBACK_CORRECTION),
        )

    def to_data(self) -> dict[str, Any]:
        """The record's ``data`` (``correction`` only when there is one)."""
        out: dict[str, Any] = {"comment": self.comment, "sentiment": self.sentiment}
        if self.correction is not None:
            out["correction"] = self.correction
        return out

    def to_attributes(self, out: Attrs) -> None:
        """Add this type's span attributes and GenAI evaluation names to ``out``."""
        if self.comment is not None:
            out[A.RLHF_FEEDBACK_COMMENT] = self.comment
        if self.sentiment is not None:
            out[A.RLHF_FEEDBACK_SENTIMENT] = self.sentiment
        if self.correction is not None:
            out[A.RLHF_FEEDBACK_CORRECTION] = self.correction

    def evaluation(self, out: Attrs) -> None:
        """Add the GenAI evaluation score, label and explanation to ``out``."""
        if self.sentiment:
            out[A.GEN_AI_EVALUATION_SCORE_LABEL] = self.sentiment
        _explain(out, self.comment)


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiDimensionalData:
    """Scores on named dimensions, optionally weighted, with an overall comment."""

    type: ClassVar[FeedbackType] = FeedbackType.MULTI_DIMENSIONAL
    dimensions: Mapping[str, float] = field(default_factory=dict)
    weights: Mapping[str, float] | None = None
    overall_comment: str | None = None

    @classmethod
    def from_data(cls, d: Mapping[str, Any]) -> MultiDimensionalData:
        """From a record's ``data``."""
        return cls(
            dimensions=d["dimensions"],
            weights=d.get("weights"),
            overall_comment=d.get("overall_comment"),
        )

    @classmethod
    def from_attributes(cls, attrs: Mapping[str, Any]) -> MultiDimensionalData:
        """From a feedback span's (or event's) attributes."""
        return cls(
            dimensions=_loads(attrs[A.RLHF_FEEDBACK_DIMENSIONS], {}),
            weights=_loads(attrs.get(A.RLHF_FEEDBACK_WEIGHTS), None),
            overall_comment=attrs.get(A.RLHF_FEEDBACK_COMMENT),
        )

    def to_data(self) -> dict[str, Any]:
        """The record's ``data`` (schema unchanged)."""
        return {
            "dimensions": self.dimensions,
            "weights": self.weights,
            "overall_comment": self.overall_comment,
        }

    def score(self) -> float | None:
        """The weighted mean of the dimensions (equal weights when none are given)."""
        weights = self.weights or {k: 1.0 for k in self.dimensions}
        total = sum(weights.values())
        if not self.dimensions or total <= 0:
            return None
        return sum(v * weights.get(k, 0.0) for k, v in self.dimensions.items()) / total

    def to_attributes(self, out: Attrs) -> None:
        """Add this type's span attributes and GenAI evaluation names to ``out``."""
        out[A.RLHF_FEEDBACK_DIMENSIONS] = _json(self.dimensions)
        if self.weights is not None:
            out[A.RLHF_FEEDBACK_WEIGHTS] = _json(self.weights)
        if self.overall_comment is not None:
            out[A.RLHF_FEEDBACK_COMMENT] = self.overall_comment

    def evaluation(self, out: Attrs) -> None:
        """Add the GenAI evaluation score, label and explanation to ``out``."""
        score = self.score()
        if score is not None:
            out[A.GEN_AI_EVALUATION_SCORE_VALUE] = float(score)
        _explain(out, self.overall_comment)


@dataclass(frozen=True, slots=True, kw_only=True)
class ComparativeData:
    """One response preferred over the others (or a tie, or both bad)."""

    type: ClassVar[FeedbackType] = FeedbackType.COMPARATIVE
    preferred_response_id: str
    compared_response_ids: Sequence[str]
    reason: str | None = None
    confidence_level: float | None = None
    outcome: str | None = None

    @classmethod
    def from_data(cls, d: Mapping[str, Any]) -> ComparativeData:
        """From a record's ``data``."""
        return cls(
            preferred_response_id=d["preferred_response_id"],
            compared_response_ids=list(d["compared_response_ids"]),
            reason=d.get("reason"),
            confidence_level=d.get("confidence_level"),
            outcome=d.get("outcome"),
        )

    @classmethod
    def from_attributes(cls, attrs: Mapping[str, Any]) -> ComparativeData:
        """From a feedback span's (or event's) attributes."""
        confidence = attrs.get(A.RLHF_FEEDBACK_CONFIDENCE)
        return cls(
            preferred_response_id=attrs[A.RLHF_FEEDBACK_PREFERRED_ID],
            compared_response_ids=list(attrs[A.RLHF_FEEDBACK_COMPARED_IDS]),
            reason=attrs.get(A.RLHF_FEEDBACK_REASON),
            confidence_level=None if confidence is None else float(confidence),
            outcome=attrs.get(A.RLHF_FEEDBACK_OUTCOME),
        )

    def to_data(self) -> dict[str, Any]:
        """The record's ``data`` (``outcome`` only when one was given)."""
        out: dict[str, Any] = {
            "preferred_response_id": self.preferred_response_id,
            "compared_response_ids": list(self.compared_response_ids),
            "reason": self.reason,
            "confidence_level": self.confidence_level,
        }
        if self.outcome is not None:
            out["outcome"] = self.outcome
        return out

    def to_attributes(self, out: Attrs) -> None:
        """Add this type's span attributes and GenAI evaluation names to ``out``."""
        out[A.RLHF_FEEDBACK_PREFERRED_ID] = self.preferred_response_id
        out[A.RLHF_FEEDBACK_COMPARED_IDS] = list(self.compared_response_ids)
        if self.reason is not None:
            out[A.RLHF_FEEDBACK_REASON] = self.reason
        if self.confidence_level is not None:
            out[A.RLHF_FEEDBACK_CONFIDENCE] = float(self.confidence_level)
        if self.outcome not in (None, "preferred"):
            out[A.RLHF_FEEDBACK_OUTCOME] = self.outcome

    def evaluation(self, out: Attrs) -> None:
        """Add the GenAI evaluation score, label and explanation to ``out``."""
        if self.confidence_level is not None:
            out[A.GEN_AI_EVALUATION_SCORE_VALUE] = float(self.confidence_level)
        out[A.GEN_AI_EVALUATION_SCORE_LABEL] = self.outcome or "preferred"
        _explain(out, self.reason)


FeedbackData: TypeAlias = (
    BinaryData | RatingData | TextData | MultiDimensionalData | ComparativeData
)
"""The data of one feedback, tagged by its class's ``type``."""

_CLASSES: dict[FeedbackType, type[FeedbackData]] = {
    c.type: c for c in (BinaryData, RatingData, TextData, MultiDimensionalData, ComparativeData)
}


def data_class(ftype: FeedbackType) -> type[FeedbackData]:
    """The data class of a feedback type."""
    return _CLASSES[ftype]


def feedback_data(fb: Feedback) -> FeedbackData:
    """A feedback's ``data`` as its type's dataclass.

    Raises:
        KeyError: a field the type requires is missing.
    """
    return _CLASSES[fb.type].from_data(fb.data)
