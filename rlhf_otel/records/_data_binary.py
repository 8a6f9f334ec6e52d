"""Binary feedback data: thumbs up or down."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rlhf_otel import attributes as A
from rlhf_otel._errors import ValidationError
from rlhf_otel.records._data_common import Attrs
from rlhf_otel.records._model import BinaryFeedback, FeedbackType

if TYPE_CHECKING:
    from rlhf_otel.records._stats import StatsAccumulator

__all__ = ["BinaryData"]


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

    @staticmethod
    def validate(d: Mapping[str, Any]) -> dict[str, Any]:
        """A submitted ``data`` checked and cleaned into its stored form (``True``/``False``
        mean up/down).

        Raises:
            ValidationError: the value is not allowed.
            KeyError: ``value`` is missing.
        """
        value = d["value"]
        if value is True or value is False:
            value = BinaryFeedback.THUMBS_UP if value else BinaryFeedback.THUMBS_DOWN
        try:
            return {"value": BinaryFeedback(value).value}
        except ValueError:
            raise ValidationError(
                f"binary feedback value {value!r} is not allowed; use BinaryFeedback.THUMBS_UP "
                "('thumbs_up'), BinaryFeedback.THUMBS_DOWN ('thumbs_down'), True or False"
            ) from None

    @staticmethod
    def targets(d: Mapping[str, Any]) -> list[str] | None:
        """``None``: the data names no interaction (the feedback's interaction is given
        beside it)."""
        return None

    @staticmethod
    def agreement(d: Mapping[str, Any]) -> list[tuple[str, Hashable]]:
        """(kind, value) pairs people are compared on: the thumbs value."""
        return [("binary", str(d.get("value")))]

    @staticmethod
    def form_answers(d: Mapping[str, Any], sides: tuple[str, str] | None) -> dict[str, Any]:
        """The review form's answers that give back this data."""
        return {"binary": d["value"]}

    @staticmethod
    def summary(d: Mapping[str, Any]) -> str:
        """A stored ``data`` in one line, for listings."""
        return str(d.get("value"))

    @staticmethod
    def satisfaction(d: Mapping[str, Any]) -> float | None:
        """Thumbs up 1, down 0."""
        return 1.0 if d.get("value") == "thumbs_up" else 0.0

    @staticmethod
    def stats_add(acc: StatsAccumulator, d: Mapping[str, Any]) -> None:
        """Count a stored ``data`` in ``acc``."""
        if d["value"] == "thumbs_up":
            acc.thumbs_up += 1
        else:
            acc.thumbs_down += 1

    @staticmethod
    def stats_remove(acc: StatsAccumulator, d: Mapping[str, Any]) -> None:
        """Take back a stored ``data`` counted by :meth:`stats_add`."""
        if d["value"] == "thumbs_up":
            acc.thumbs_up -= 1
        else:
            acc.thumbs_down -= 1
