"""Export options, training options and the export report."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from rlhf_otel._errors import ValidationError
from rlhf_otel.export._evaluators import Evaluators, check_evaluators
from rlhf_otel.records import (
    ExportFormat,
    FeedbackFilter,
    FeedbackType,
    InteractionFilter,
    as_utc,
)

__all__ = [
    "PAIR_SOURCES",
    "RECORD_FORMATS",
    "TRAINING_FORMATS",
    "ExportOptions",
    "ExportReport",
    "ProgressCallback",
    "TrainingOptions",
    "coerce_format",
    "with_fields",
]

RECORD_FORMATS: Final = frozenset(
    {ExportFormat.JSON, ExportFormat.JSONL, ExportFormat.CSV, ExportFormat.PARQUET}
)
TRAINING_FORMATS: Final = frozenset(
    {ExportFormat.DPO, ExportFormat.KTO, ExportFormat.REWARD, ExportFormat.SFT}
)
PAIR_SOURCES: Final = ("comparative", "rating", "multi_dimensional", "binary")

ProgressCallback = Callable[[int], None]
"""Called with the number of records read so far, every few thousand records."""


def coerce_format(value: ExportFormat | str) -> ExportFormat:
    """The :class:`ExportFormat` named by ``value`` (case-insensitive)."""
    try:
        return ExportFormat(value.lower() if isinstance(value, str) else value)
    except ValueError:
        allowed = ", ".join(f.value for f in ExportFormat)
        raise ValidationError(f"export format {value!r} is unknown; allowed: {allowed}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainingOptions:
    """How feedback becomes training rows (``dpo``, ``kto``, ``reward``, ``sft``).

    Args:
        conversational: ``"auto"`` (default) writes every row as message lists when any
            interaction used had context, else plain strings (one form per file, so
            ``datasets`` can load it); ``"always"`` / ``"never"`` force a form.
        positive_threshold: an interaction whose mean satisfaction (thumbs up 1, down 0,
            ratings scaled to 0..1 by their own scale) is at least this is good: a KTO
            ``label`` of true, and kept for SFT. Default 0.75 (4 and 5 of 1..5).
        negative_threshold: at most this is bad: a KTO ``label`` of false. Default 0.25.
            Interactions in between are skipped as ``"ambiguous_score"``.
        pair_sources: where DPO / reward pairs come from, in order of precedence when two
            responses share several signals: ``"comparative"`` (explicit preferences),
            ``"rating"``, ``"multi_dimensional"`` (weighted score), ``"binary"``.
        max_pairs_per_prompt: most score-derived pairs taken from one prompt's responses
            (``None``: every pair of responses whose scores differ).
    """

    conversational: Literal["auto", "always", "never"] = "auto"
    positive_threshold: float = 0.75
    negative_threshold: float = 0.25
    pair_sources: Sequence[str] = PAIR_SOURCES
    max_pairs_per_prompt: int | None = None

    def __post_init__(self) -> None:
        if self.conversational not in ("auto", "always", "never"):
            raise ValidationError(
                f"conversational must be 'auto', 'always' or 'never'; got {self.conversational!r}"
            )
        if not 0.0 <= self.negative_threshold < self.positive_threshold <= 1.0:
            raise ValidationError(
                "thresholds must satisfy 0 <= negative_threshold < positive_threshold <= 1; "
                f"got {self.negative_threshold!r} and {self.positive_threshold!r}"
            )
        unknown = [s for s in self.pair_sources if s not in PAIR_SOURCES]
        if unknown or not self.pair_sources:
            raise ValidationError(
                f"pair_sources must be a non-empty subset of {list(PAIR_SOURCES)}; got "
                f"{list(self.pair_sources)!r}"
            )
        if self.max_pairs_per_prompt is not None and self.max_pairs_per_prompt < 1:
            raise ValidationError(
                f"max_pairs_per_prompt must be >= 1 or None; got {self.max_pairs_per_prompt!r}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportOptions:
    """Every option of the guide's ``exportFeedback``, honoured, plus a few of ours.

    Args:
        start_time, end_time: inclusive range on each record's own timestamp (for training
            formats: on the feedback's timestamp); a naive time is local time.
        include_interactions, include_feedback: which kinds record formats write.
        include_metadata: ``False`` leaves out every ``metadata`` field / column.
        feedback_types: only feedback of these types (``None``: all).
        user_id, session_id: only records of this user / session (feedback by its own
            ``user_id``; interactions by theirs).
        limit: at most this many records of each kind (record formats) or rows (training
            formats); ``0`` exports none.
        pretty_print: indent JSON (default: on for JSON, the guide's default); JSON only.
        neutralize_formulas: CSV cells a spreadsheet would run as a formula get a leading
            ``'`` (undo with :func:`unescape_csv_cell`). Default on.
        container: file format of a training set, ``"jsonl"`` or ``"parquet"`` (default:
            ``"parquet"`` when the output path ends in ``.parquet``, else ``"jsonl"``).
        training: :class:`TrainingOptions` for ``dpo``, ``kto``, ``reward``, ``sft``.
        evaluators: whose feedback: ``"human"`` (default: end users and reviewers),
            ``"model"`` (judges' verdicts, evaluator type ``model``) or ``"all"``. JSON,
            JSONL, CSV and Parquet rows of ``model``/``all`` exports carry ``evaluator_type``
            (training rows ``evaluator``: human, model or mixed); in training sets
            people win where both judged an item, and a pairwise judge's verdict becomes a
            pair only when both orders agreed.
    """

    start_time: datetime | None = None
    end_time: datetime | None = None
    include_interactions: bool = True
    include_feedback: bool = True
    include_metadata: bool = True
    feedback_types: Sequence[FeedbackType | str] | None = None
    user_id: str | None = None
    session_id: str | None = None
    limit: int | None = None
    pretty_print: bool | None = None
    neutralize_formulas: bool = True
    container: Literal["jsonl", "parquet"] | None = None
    training: TrainingOptions = field(default_factory=TrainingOptions)
    evaluators: Evaluators = "human"

    def __post_init__(self) -> None:
        check_evaluators(self.evaluators)
        if self.limit is not None and (
            isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 0
        ):
            raise ValidationError(f"limit must be an int >= 0 or None; got {self.limit!r}")
        object.__setattr__(self, "start_time", as_utc(self.start_time))
        object.__setattr__(self, "end_time", as_utc(self.end_time))
        if self.start_time and self.end_time and self.start_time > self.end_time:
            raise ValidationError(
                f"start_time {self.start_time.isoformat()} is after end_time "
                f"{self.end_time.isoformat()}"
            )
        if self.container not in (None, "jsonl", "parquet"):
            raise ValidationError(
                f"container must be 'jsonl', 'parquet' or None; got {self.container!r}"
            )
        for t in self.feedback_types or ():
            try:
                FeedbackType(t)
            except ValueError:
                allowed = ", ".join(f.value for f in FeedbackType)
                raise ValidationError(
                    f"feedback type {t!r} is unknown; allowed: {allowed}"
                ) from None

    def types(self) -> tuple[FeedbackType, ...] | None:
        """``feedback_types`` as enum members."""
        if self.feedback_types is None:
            return None
        return tuple(FeedbackType(t) for t in self.feedback_types)

    def interaction_filter(self) -> InteractionFilter:
        """The interactions these options select, as the records filter every reader reads
        (``evaluators`` and the record kinds to include aside)."""
        return InteractionFilter(
            start_time=self.start_time,
            end_time=self.end_time,
            user_id=self.user_id,
            session_id=self.session_id,
            limit=self.limit,
        )

    def feedback_filter(self) -> FeedbackFilter:
        """The feedback these options select, as the records filter every reader reads
        (``evaluators`` aside: see ``evaluator_where``)."""
        return FeedbackFilter(
            start_time=self.start_time,
            end_time=self.end_time,
            types=self.types(),
            user_id=self.user_id,
            session_id=self.session_id,
            limit=self.limit,
        )


@dataclass(slots=True, kw_only=True)
class ExportReport:
    """What an export wrote, and what it skipped and why.

    ``used`` counts rows by where they came from (for DPO: ``comparative``, ``rating``, ...;
    for KTO/SFT: the signals behind the score); ``skipped`` counts candidates left out by
    reason (``tie``, ``different_prompts``, ``interaction_not_found``, ...).
    """

    format: str
    rows: int = 0
    interactions: int = 0
    feedback: int = 0
    used: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    conversational: bool | None = None
    truncated: bool = False
    path: str | None = None
    bytes_written: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "format": self.format,
            "rows": self.rows,
            "interactions": self.interactions,
            "feedback": self.feedback,
            "used": {k: v for k, v in sorted(self.used.items()) if v},
            "skipped": {k: v for k, v in sorted(self.skipped.items()) if v},
            "conversational": self.conversational,
            "truncated": self.truncated,
            "path": self.path,
            "bytes_written": self.bytes_written,
        }


def with_fields(options: ExportOptions, fields: Mapping[str, Any]) -> ExportOptions:
    """``options`` with the named fields replaced (a ``None`` value leaves a field as it is).

    Raises:
        ValidationError: a name that is not a field of :class:`ExportOptions`.
    """
    names = {f.name for f in dataclasses.fields(ExportOptions)}
    unknown = sorted(set(fields) - names)
    if unknown:
        raise ValidationError(
            f"unknown export option(s) {unknown}; allowed: {', '.join(sorted(names))}"
        )
    changed = {k: v for k, v in fields.items() if v is not None}
    return dataclasses.replace(options, **changed) if changed else options
