"""Training sets from feedback: DPO / reward pairs, KTO labels, SFT conversations.

Rows match the dataset types Hugging Face TRL's trainers read: preference
(``prompt``/``chosen``/``rejected``, plus ``margin`` for reward models), unpaired preference
(``prompt``/``completion``/``label``) and conversational language modelling (``messages``).
Candidates are chosen by the analytics engine (DuckDB, bounded memory, spilling to disk);
Python only shapes the rows written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

from rlhf_otel._errors import ValidationError
from rlhf_otel.analytics import Engine, select_scope
from rlhf_otel.export._evaluators import (
    ROW_EVALUATOR_SQL,
    filter_training_feedback,
    row_evaluators,
)
from rlhf_otel.export._options import (
    TRAINING_FORMATS,
    ExportOptions,
    ExportReport,
    ProgressCallback,
    coerce_format,
)
from rlhf_otel.export._pairs_sql import (
    DEDUPE_RESP,
    comparative_events,
    correction_events,
    member_events,
    prepare,
    score_events,
    texts,
)
from rlhf_otel.export._select import PROGRESS_EVERY
from rlhf_otel.records import ExportFormat, FeedbackFilter, FeedbackType
from rlhf_otel.stores import Store

__all__ = ["TrainingRows", "iter_training_rows"]

# Text feedback is read for its ``correction`` (a reviewer's better answer) only.
_TYPES_FOR: Final = {
    ExportFormat.DPO: frozenset(FeedbackType),
    ExportFormat.REWARD: frozenset(FeedbackType),
    ExportFormat.KTO: frozenset({FeedbackType.BINARY, FeedbackType.RATING}),
    ExportFormat.SFT: frozenset({FeedbackType.BINARY, FeedbackType.RATING, FeedbackType.TEXT}),
}
_FETCH: Final = 2048
_EVENTS: Final = """CREATE OR REPLACE TEMP TABLE events (ord HUGEINT, win VARCHAR, lose VARCHAR,
margin DOUBLE, label BOOLEAN, outcome VARCHAR, kind VARCHAR, n BIGINT)"""
Message = dict[str, str]


def _message(m: Mapping[str, Any]) -> Message:
    content = m.get("content")
    text = content if isinstance(content, str) else ""
    return {"role": str(m.get("role", "user")), "content": text}


class TrainingRows:
    """An iterator of training rows whose :attr:`report` fills in as it is consumed.

    The store is read when iteration starts (or at :meth:`prepare`); the engine's private
    files are removed when the rows are exhausted or :meth:`close` is called.
    """

    def __init__(
        self,
        store: Store,
        fmt: ExportFormat,
        opts: ExportOptions,
        progress: ProgressCallback | None = None,
    ) -> None:
        if fmt not in _TYPES_FOR:
            raise ValueError(f"{fmt.value} is not a training format")
        self.format = fmt
        self.report = ExportReport(format=fmt.value)
        self._store = store
        self._opts = opts
        self._progress = progress
        self._rows: Iterator[dict[str, Any]] | None = None
        self._conversational: bool | None = None
        self._engine: Engine | None = None
        self._unique = True  # no interaction id the rows need is stored twice

    def __iter__(self) -> TrainingRows:
        return self

    def __next__(self) -> dict[str, Any]:
        if self._rows is None:
            self.prepare()
        assert self._rows is not None
        return next(self._rows)

    @property
    def conversational(self) -> bool:
        """Whether rows are message lists (reads the store if it was not read yet)."""
        if self._conversational is None:
            self.prepare()
        assert self._conversational is not None
        return self._conversational

    def prepare(self) -> None:
        """Read the store now (iteration does it otherwise)."""
        if self._rows is None:
            self._engine = Engine(self._store)
            try:
                self._select()
            except BaseException:
                self.close()
                raise
            self._rows = self._generate()

    def close(self) -> None:
        """Release the engine (rows not yet read are lost)."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    # ------------------------------------------------------------------ selection
    def _select(self) -> None:
        eng = self._engine
        assert eng is not None
        opts, report = self._opts, self.report
        wanted = _TYPES_FOR[self.format]
        chosen = opts.types()
        types = sorted(wanted if chosen is None else wanted & set(chosen), key=lambda t: t.value)
        sources = list(opts.training.pair_sources)
        flt = FeedbackFilter(
            start_time=opts.start_time,
            end_time=opts.end_time,
            types=types,
            user_id=opts.user_id,
            session_id=opts.session_id,
        )
        _, report.feedback = select_scope(
            eng, None, flt if types else None,
            interaction_columns=(),
            feedback_columns=["value", "dimensions", "weights", "preferred_response_id",
                              "compared_response_ids", "confidence_level", "outcome",
                              "correction", "source", "metadata", "target_ids"],
        )  # fmt: skip
        if types:
            report.feedback -= filter_training_feedback(eng.con, opts.evaluators, report.skipped)
            if opts.evaluators != "human":
                row_evaluators(eng.con)
        if self._progress is not None:
            self._progress(report.feedback)
        pairs = self.format in (ExportFormat.DPO, ExportFormat.REWARD)
        con = eng.con
        if FeedbackType.TEXT in types:
            # Text is read for corrections only; other text feedback is not a candidate.
            (plain,) = con.execute(
                """SELECT count(*) FROM fbs WHERE "type" = 'text' AND correction IS NULL"""
            ).fetchall()[0]
            report.feedback -= int(plain)
        for statement in prepare(pairs and "comparative" in sources):
            con.execute(statement)
        unreadable = con.execute(
            """SELECT count(*) FILTER (WHERE "type" = 'rating' AND norm IS NULL),
                      count(*) FILTER (WHERE "type" = 'multi_dimensional' AND wscore IS NULL)
               FROM fbs"""
        ).fetchall()[0]
        for reason, n in zip(("unreadable_rating", "unreadable_dimensions"), unreadable,
                             strict=True):  # fmt: skip
            if n:
                report.skipped[reason] += int(n)
        if pairs:
            (itself,) = con.execute("SELECT count(*) FROM cmp WHERE pref = other").fetchall()[0]
            if itself:
                report.skipped["compared_with_itself"] += int(itself)
        (needed,) = con.execute("SELECT count(*) FROM needed").fetchall()[0]
        if needed:
            (report.interactions,) = con.execute("SELECT count(*) FROM allr").fetchall()[0]
            (dupes,) = con.execute("SELECT count(*) - count(DISTINCT id) FROM resp").fetchall()[0]
            if dupes:
                con.execute(DEDUPE_RESP)
                self._unique = False
        if self._progress is not None:
            self._progress(report.interactions + report.feedback)
        mode = opts.training.conversational
        (any_context,) = con.execute("SELECT bool_or(has_ctx) FROM resp").fetchall()[0]
        conv = mode == "always" or (mode == "auto" and bool(any_context))
        self._conversational = report.conversational = conv
        con.execute(_EVENTS)
        t = opts.training
        if pairs:
            for statement in correction_events():
                con.execute(statement)
            con.execute(comparative_events())
            kinds = [k for k in sources if k != "comparative"]
            if kinds:
                for statement in score_events(kinds, t.max_pairs_per_prompt):
                    con.execute(statement)
        else:
            kto = self.format is ExportFormat.KTO
            for statement in member_events(kto, t.positive_threshold, t.negative_threshold):
                con.execute(statement)
        self._count()

    def _count(self) -> None:
        """Fill the report the way a row-by-row writer stopping at ``limit`` would."""
        con = self._engine.con  # type: ignore[union-attr]
        limit = self._opts.limit
        cutoff = None
        if limit is not None:
            hit = con.execute(
                f"SELECT ord FROM events WHERE outcome = 'row' ORDER BY ord LIMIT 1 OFFSET {limit}"
            ).fetchall()
            cutoff = hit[0][0] if hit else None
        before = "" if cutoff is None else f"AND ord < {cutoff}"
        upto = "" if cutoff is None else f"AND ord <= {cutoff}"
        for reason, n in con.execute(
            f"SELECT outcome, sum(n) FROM events WHERE outcome <> 'row' {before} GROUP BY 1"
        ).fetchall():
            self.report.skipped[reason] += int(n)
        for kind, n in con.execute(
            f"SELECT kind, count(*) FROM events WHERE outcome = 'row' {upto} GROUP BY 1"
        ).fetchall():
            self.report.used[kind] += int(n)
        self.report.truncated = cutoff is not None

    # ------------------------------------------------------------------ rows
    def _generate(self) -> Iterator[dict[str, Any]]:
        try:
            yield from self._rows_of_format()
        finally:
            self.close()

    def _rows_of_format(self) -> Iterator[dict[str, Any]]:
        con = self._engine.con  # type: ignore[union-attr]
        limit = self._opts.limit
        conv = bool(self._conversational)
        pairs = self.format in (ExportFormat.DPO, ExportFormat.REWARD)
        by_evaluator = self._opts.evaluators != "human"
        evaluator = ROW_EVALUATOR_SQL if by_evaluator else "NULL"
        cur = con.execute(texts(pairs, limit, evaluator, unique=self._unique))
        reward = self.format is ExportFormat.REWARD
        # A progress object with a ``rows`` method also hears about rows written.
        on_rows = getattr(self._progress, "rows", None)
        while batch := cur.fetchmany(_FETCH):
            for prompt, ctx, first, second, extra, evaluator in batch:
                self.report.rows += 1
                if on_rows is not None and self.report.rows % PROGRESS_EVERY == 0:
                    on_rows(self.report.rows)
                row: dict[str, Any]
                if self.format is ExportFormat.SFT:
                    answer = {"role": "assistant", "content": first}
                    row = {"messages": [*_prompt(prompt, ctx, True), answer]}
                elif self.format is ExportFormat.KTO:
                    row = {
                        "prompt": _prompt(prompt, ctx, conv),
                        "completion": _completion(first, conv),
                        "label": bool(extra),
                    }
                else:
                    row = {
                        "prompt": _prompt(prompt, ctx, conv),
                        "chosen": _completion(first, conv),
                        "rejected": _completion(second, conv),
                    }
                    if reward:
                        row["margin"] = float(extra)
                if by_evaluator:
                    row["evaluator"] = evaluator
                yield row


def _prompt(prompt: str, ctx: str | None, conv: bool) -> Any:
    if not conv:
        return prompt
    context = [_message(m) for m in json.loads(ctx) if isinstance(m, Mapping)] if ctx else []
    return [*context, {"role": "user", "content": prompt}]


def _completion(text: str, conv: bool) -> Any:
    return [{"role": "assistant", "content": text}] if conv else text


def iter_training_rows(
    store: Store,
    format: ExportFormat | str,
    options: ExportOptions | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> TrainingRows:
    """Training rows for ``format`` (``dpo``, ``kto``, ``reward``, ``sft``) as plain dicts.

    Needs the analytics engine: ``pip install 'rlhf-otel[analytics]'``.

    Example::

        rows = iter_training_rows(store, "dpo")
        dataset = datasets.Dataset.from_list(list(rows))
        print(rows.report.skipped)
    """
    fmt = coerce_format(format)
    if fmt not in TRAINING_FORMATS:
        raise ValidationError(
            f"{fmt.value} is a record format; training formats are dpo, kto, reward, sft"
        )
    return TrainingRows(store, fmt, opts_or_default(options), progress)


def opts_or_default(options: ExportOptions | None) -> ExportOptions:
    """``options``, or the defaults."""
    return options or ExportOptions()
