"""Multi-dimensional feedback data: scores on named, optionally weighted dimensions."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rlhf_otel import attributes as A
from rlhf_otel._errors import ValidationError
from rlhf_otel.records._data_common import (
    MAX_NAME_CHARS,
    Attrs,
    clean_number,
    explain,
    finite_number,
    json_text,
    loads,
    optional_str,
    replace_surrogates,
)
from rlhf_otel.records._model import FeedbackType

if TYPE_CHECKING:
    from rlhf_otel.records._stats import StatsAccumulator

__all__ = ["MultiDimensionalData"]


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
            dimensions=loads(attrs[A.RLHF_FEEDBACK_DIMENSIONS], {}),
            weights=loads(attrs.get(A.RLHF_FEEDBACK_WEIGHTS), None),
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
        out[A.RLHF_FEEDBACK_DIMENSIONS] = json_text(self.dimensions)
        if self.weights is not None:
            out[A.RLHF_FEEDBACK_WEIGHTS] = json_text(self.weights)
        if self.overall_comment is not None:
            out[A.RLHF_FEEDBACK_COMMENT] = self.overall_comment

    def evaluation(self, out: Attrs) -> None:
        """Add the GenAI evaluation score, label and explanation to ``out``."""
        score = self.score()
        if score is not None:
            out[A.GEN_AI_EVALUATION_SCORE_VALUE] = float(score)
        explain(out, self.overall_comment)

    @staticmethod
    def validate(d: Mapping[str, Any]) -> dict[str, Any]:
        """A submitted ``data`` checked and cleaned into its stored form; weights, if given,
        cover exactly the dimensions.

        Raises:
            ValidationError: a field is not allowed.
            KeyError: ``dimensions`` is missing.
        """
        dimensions, weights = d["dimensions"], d.get("weights")
        if not isinstance(dimensions, Mapping) or not dimensions:
            raise ValidationError("dimensions must be a non-empty mapping of name to number")
        dims: dict[str, int | float] = {}
        for name, value in dimensions.items():
            if not isinstance(name, str) or not name.strip():
                raise ValidationError(f"dimension names must be non-empty strings; got {name!r}")
            if len(name) > MAX_NAME_CHARS:
                raise ValidationError(
                    f"dimension names must be at most {MAX_NAME_CHARS} characters"
                )
            dims[replace_surrogates(name)] = clean_number(
                finite_number(f"dimension {name!r}", value)
            )
        clean_weights: dict[str, int | float] | None = None
        if weights is not None:
            if not isinstance(weights, Mapping):
                raise ValidationError("weights must be a mapping of dimension name to number")
            if set(weights) != set(dims):
                missing = sorted(set(dims) - set(weights))
                extra = sorted(set(weights) - set(dims))
                raise ValidationError(
                    f"weights must name exactly the dimensions; missing {missing}, unknown {extra}"
                )
            clean_weights = {}
            for name, w in weights.items():
                value = finite_number(f"weight {name!r}", w)
                if value < 0:
                    raise ValidationError(f"weight {name!r} must be >= 0; got {value:g}")
                clean_weights[name] = clean_number(value)
            if sum(clean_weights.values()) <= 0:
                raise ValidationError("weights must not all be zero")
        comment = optional_str("overall_comment", d.get("overall_comment"), allow_empty=True)
        return {"dimensions": dims, "weights": clean_weights, "overall_comment": comment}

    @staticmethod
    def targets(d: Mapping[str, Any]) -> list[str] | None:
        """``None``: the data names no interaction (the feedback's interaction is given
        beside it)."""
        return None

    @staticmethod
    def agreement(d: Mapping[str, Any]) -> list[tuple[str, Hashable]]:
        """(kind, value) pairs people are compared on: each dimension's score."""
        return [(f"dimension:{k}", float(v)) for k, v in d["dimensions"].items()]

    @staticmethod
    def form_answers(d: Mapping[str, Any], sides: tuple[str, str] | None) -> dict[str, Any]:
        """The review form's answers that give back this data."""
        return {"dimensions": dict(d["dimensions"])}

    @staticmethod
    def summary(d: Mapping[str, Any]) -> str:
        """A stored ``data`` in one line, for listings."""
        return ", ".join(f"{k} {v}" for k, v in (d.get("dimensions") or {}).items())

    @staticmethod
    def satisfaction(d: Mapping[str, Any]) -> float | None:
        """None: dimensions are scored apart (see :meth:`score`)."""
        return None

    @staticmethod
    def stats_add(acc: StatsAccumulator, d: Mapping[str, Any]) -> None:
        """Count a stored ``data`` in ``acc``: each dimension's sums and terms, and the
        weighted score (every weight 1 when none are given)."""
        acc.multi_count += 1
        dims: Mapping[str, float] = d["dimensions"]
        weights: Mapping[str, float] = d.get("weights") or {}
        wsum = 0.0
        score = 0.0
        for name, value in dims.items():
            w = float(weights.get(name, 1.0)) if weights else 1.0
            acc.dim_sums[name] = acc.dim_sums.get(name, 0.0) + value
            acc.dim_counts[name] += 1
            acc.dim_wsums[name] = acc.dim_wsums.get(name, 0.0) + w * value
            acc.dim_weights[name] = acc.dim_weights.get(name, 0.0) + w
            values, wvalues, ws = acc.dim_terms.setdefault(name, ([], [], []))
            values.append(value)
            wvalues.append(w * value)
            ws.append(w)
            wsum += w
            score += w * value
        if wsum > 0:
            acc.weighted_scores.append(score / wsum)

    @staticmethod
    def stats_remove(acc: StatsAccumulator, d: Mapping[str, Any]) -> None:
        """Take back a stored ``data`` counted by :meth:`stats_add`."""
        acc.multi_count -= 1
        dims: Mapping[str, float] = d["dimensions"]
        weights: Mapping[str, float] = d.get("weights") or {}
        wsum = score = 0.0
        for name, value in dims.items():
            w = float(weights.get(name, 1.0)) if weights else 1.0
            acc.dim_sums[name] -= value
            acc.dim_counts[name] -= 1
            acc.dim_wsums[name] -= w * value
            acc.dim_weights[name] -= w
            if name in acc.dim_terms:
                values, wvalues, ws = acc.dim_terms[name]
                values.remove(value)
                wvalues.remove(w * value)
                ws.remove(w)
            wsum += w
            score += w * value
            if not acc.dim_counts[name]:
                for table in (acc.dim_sums, acc.dim_counts, acc.dim_wsums, acc.dim_weights):
                    del table[name]
                acc.dim_terms.pop(name, None)
        if wsum > 0:
            acc.weighted_scores.remove(score / wsum)
