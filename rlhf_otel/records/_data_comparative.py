"""Comparative feedback data: one response preferred over others, a tie, or both bad."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from rlhf_otel import attributes as A
from rlhf_otel._errors import ValidationError
from rlhf_otel.records._data_common import Attrs, explain, finite_number, optional_str
from rlhf_otel.records._ids import validate_id
from rlhf_otel.records._model import FeedbackType

if TYPE_CHECKING:
    from rlhf_otel.records._stats import StatsAccumulator

__all__ = ["OUTCOMES", "ComparativeData"]

OUTCOMES: Final = ("preferred", "tie", "both_bad")
"""A comparison's allowed ``outcome`` values."""


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
        explain(out, self.reason)

    @staticmethod
    def validate(d: Mapping[str, Any]) -> dict[str, Any]:
        """A submitted ``data`` checked and cleaned into its stored form. ``outcome``
        ``"tie"`` or ``"both_bad"`` says no response won (the ids then keep the order they
        were shown in); it is stored only when not ``"preferred"``.

        Raises:
            ValidationError: a field is not allowed.
            KeyError: ``preferred_response_id`` or ``compared_response_ids`` is missing.
        """
        preferred, compared = d["preferred_response_id"], d["compared_response_ids"]
        outcome = d.get("outcome", "preferred")
        if outcome not in OUTCOMES:
            raise ValidationError(
                f"comparison outcome {outcome!r} is not allowed; use 'preferred', 'tie' or "
                "'both_bad'"
            )
        preferred_id = validate_id(preferred, "preferred_response_id")
        if isinstance(compared, (str, bytes)) or not isinstance(compared, Sequence):
            raise ValidationError("compared_response_ids must be a list of interaction ids")
        if not compared:
            raise ValidationError(
                "compared_response_ids must not be empty: a comparison needs at least one "
                "other response"
            )
        ids = [validate_id(i, "compared response id") for i in compared]
        if preferred_id in ids:
            raise ValidationError(
                f"preferred_response_id {preferred_id!r} also appears in "
                "compared_response_ids; a response cannot be compared with itself"
            )
        if len(set(ids)) != len(ids):
            raise ValidationError("compared_response_ids must not repeat an id")
        conf = None
        if d.get("confidence_level") is not None:
            conf = finite_number("confidence_level", d["confidence_level"])
            if not 0.0 <= conf <= 1.0:
                raise ValidationError(f"Confidence level must be between 0 and 1; got {conf:g}")
        data: dict[str, Any] = {
            "preferred_response_id": preferred_id,
            "compared_response_ids": ids,
            "reason": optional_str("reason", d.get("reason"), allow_empty=True),
            "confidence_level": conf,
        }
        if outcome != "preferred":
            data["outcome"] = outcome
        return data

    @staticmethod
    def targets(d: Mapping[str, Any]) -> list[str] | None:
        """The preferred response first, then the compared ones: a comparison names the
        interactions it is about in its data (the first is its interaction).

        Raises:
            ValueError: they are not a string and a list.
        """
        preferred, compared = d.get("preferred_response_id"), d.get("compared_response_ids")
        if not isinstance(preferred, str) or not isinstance(compared, list):
            raise ValueError(
                "comparative data needs preferred_response_id (string) and "
                "compared_response_ids (list of strings)"
            )
        return [preferred, *compared]

    @staticmethod
    def agreement(d: Mapping[str, Any]) -> list[tuple[str, Hashable]]:
        """(kind, value) pairs people are compared on: the chosen interaction id, or
        ``tie`` / ``both_bad``."""
        outcome = d.get("outcome") or "preferred"
        return [("comparative", d["preferred_response_id"] if outcome == "preferred" else outcome)]

    @staticmethod
    def form_answers(d: Mapping[str, Any], sides: tuple[str, str] | None) -> dict[str, Any]:
        """The review form's answers that give back this data: the vote (``A`` / ``B`` by
        the pair as the reviewer saw it, ``sides``; or ``tie`` / ``both_bad``) and the
        reason as the comment."""
        outcome = d.get("outcome") or "preferred"
        if outcome != "preferred":
            vote = outcome
        else:
            vote = "A" if sides is not None and d["preferred_response_id"] == sides[0] else "B"
        return {"vote": vote, "comment": d.get("reason")}

    @staticmethod
    def summary(d: Mapping[str, Any]) -> str:
        """A stored ``data`` in one line, for listings."""
        compared = ", ".join(d.get("compared_response_ids") or ())
        return f"{d.get('preferred_response_id')} > {compared}"

    @staticmethod
    def satisfaction(d: Mapping[str, Any]) -> float | None:
        """None: a preference ranks answers, it does not score one."""
        return None

    @staticmethod
    def stats_add(acc: StatsAccumulator, d: Mapping[str, Any]) -> None:
        """Count a stored ``data`` in ``acc``: its confidence, when it has one."""
        acc.comparative_count += 1
        if d.get("confidence_level") is not None:
            acc.confidences.append(float(d["confidence_level"]))

    @staticmethod
    def stats_remove(acc: StatsAccumulator, d: Mapping[str, Any]) -> None:
        """Take back a stored ``data`` counted by :meth:`stats_add`."""
        acc.comparative_count -= 1
        if d.get("confidence_level") is not None:
            acc.confidences.remove(float(d["confidence_level"]))
