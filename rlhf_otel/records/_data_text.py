"""Text feedback data: a comment, a sentiment, a better answer."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rlhf_otel import attributes as A
from rlhf_otel._errors import ValidationError
from rlhf_otel.records._data_common import Attrs, explain
from rlhf_otel.records._model import FeedbackType, Sentiment

if TYPE_CHECKING:
    from rlhf_otel.records._stats import StatsAccumulator

__all__ = ["TextData"]


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
        explain(out, self.comment)

    @staticmethod
    def validate(d: Mapping[str, Any]) -> dict[str, Any]:
        """A submitted ``data`` checked and cleaned into its stored form: a comment, a
        correction (the better answer), or both; ``correction`` is stored only when given.

        Raises:
            ValidationError: a field is not allowed.
            KeyError: neither ``comment`` nor ``correction`` is there.
        """
        if "comment" not in d and d.get("correction") is None:
            raise KeyError("comment")
        comment, sentiment, correction = d.get("comment"), d.get("sentiment"), d.get("correction")
        if correction is not None and (not isinstance(correction, str) or not correction.strip()):
            raise ValidationError("text feedback correction must be a non-empty string or None")
        if correction is not None and (comment is None or comment == ""):
            comment = None
        elif not isinstance(comment, str) or not comment.strip():
            raise ValidationError(
                "text feedback comment must be a non-empty string (it may be empty or None "
                "only when a correction is given)"
            )
        if sentiment is not None:
            try:
                sentiment = Sentiment(sentiment).value
            except ValueError:
                raise ValidationError(
                    f"sentiment {sentiment!r} is not allowed; use 'positive', 'negative', "
                    "'neutral' or None"
                ) from None
        data: dict[str, Any] = {"comment": comment, "sentiment": sentiment}
        if correction is not None:
            data["correction"] = correction
        return data

    @staticmethod
    def targets(d: Mapping[str, Any]) -> list[str] | None:
        """``None``: the data names no interaction (the feedback's interaction is given
        beside it)."""
        return None

    @staticmethod
    def agreement(d: Mapping[str, Any]) -> list[tuple[str, Hashable]]:
        """(kind, value) pairs people are compared on: none (free text)."""
        return []

    @staticmethod
    def form_answers(d: Mapping[str, Any], sides: tuple[str, str] | None) -> dict[str, Any]:
        """The review form's answers that give back this data."""
        return {"comment": d.get("comment"), "correction": d.get("correction")}

    @staticmethod
    def summary(d: Mapping[str, Any]) -> str:
        """A stored ``data`` in one line, for listings."""
        return f"[{d.get('sentiment') or '-'}] {d.get('comment')}"

    @staticmethod
    def satisfaction(d: Mapping[str, Any]) -> float | None:
        """None: a comment is no satisfaction score."""
        return None

    @staticmethod
    def stats_add(acc: StatsAccumulator, d: Mapping[str, Any]) -> None:
        """Count a stored ``data`` in ``acc``: its comment length and sentiment."""
        acc.text_count += 1
        if d.get("comment") is not None:  # a correction may come without a comment
            acc.text_lengths.append(len(d["comment"]))
        acc.sentiments[d.get("sentiment") or "unspecified"] += 1

    @staticmethod
    def stats_remove(acc: StatsAccumulator, d: Mapping[str, Any]) -> None:
        """Take back a stored ``data`` counted by :meth:`stats_add`."""
        acc.text_count -= 1
        if d.get("comment") is not None:
            acc.text_lengths.remove(len(d["comment"]))
        acc.sentiments[d.get("sentiment") or "unspecified"] -= 1
