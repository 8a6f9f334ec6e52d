"""The records a record export selects, read through the analytics engine's views."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

from rlhf_otel.analytics import Engine, feedback_where, interaction_where
from rlhf_otel.export._evaluators import Evaluators, evaluator_where
from rlhf_otel.export._options import ExportOptions, ExportReport, ProgressCallback
from rlhf_otel.records import (
    Feedback,
    FeedbackFilter,
    FeedbackType,
    Interaction,
    InteractionFilter,
    TokenUsage,
)

__all__ = [
    "FEEDBACK_SQL_COLUMNS",
    "INTERACTION_SQL_COLUMNS",
    "PROGRESS_EVERY",
    "feedback_query",
    "interaction_query",
    "iter_feedback",
    "iter_interactions",
]

PROGRESS_EVERY: Final = 10_000
FETCH_ROWS: Final = 256

INTERACTION_SQL_COLUMNS: Final = (
    "id", '"timestamp"', "prompt", "response", "model", "provider",
    "CAST(model_params AS VARCHAR) AS model_params", "latency_ms", "input_tokens",
    "output_tokens", "total_tokens", "user_id", "session_id",
    "CAST(context AS VARCHAR) AS context", "response_id", "finish_reasons", "error_type",
    "time_to_first_token_ms", "trace_id", "span_id", "CAST(metadata AS VARCHAR) AS metadata",
)  # fmt: skip
FEEDBACK_SQL_COLUMNS: Final = (
    "id", '"timestamp"', "user_id", "session_id", "trace_id", "span_id", "interaction_id",
    '"type"', "source", "target_ids", "value", "rating",
    "TRY_CAST(data->>'$.min_rating' AS DOUBLE) AS min_rating", "max_rating",
    "coalesce(nullif(comment, ''), nullif(overall_comment, ''), nullif(reason, '')) AS comment",
    "sentiment", "CAST(dimensions AS VARCHAR) AS dimensions",
    "CAST(weights AS VARCHAR) AS weights", "preferred_response_id", "compared_response_ids",
    "confidence_level", "CAST(metadata AS VARCHAR) AS metadata", "CAST(data AS VARCHAR) AS data",
)  # fmt: skip


def _window(limit: int | None) -> str:
    return "" if limit is None else f" LIMIT {int(limit)}"


def interaction_query(
    eng: Engine, flt: InteractionFilter, columns: tuple[str, ...]
) -> tuple[str, list[Any]]:
    """SQL and parameters of the interactions ``flt`` selects, in the order they were
    written (the engine's side of the one filter meaning; a ZeroDB store's
    ``interaction_query`` is its own side of the same filter)."""
    w = interaction_where(flt)
    sql = f"SELECT {', '.join(columns)} FROM interactions {w.sql()} ORDER BY seq"
    return sql + _window(flt.limit), w.params


def feedback_query(
    eng: Engine, flt: FeedbackFilter, columns: tuple[str, ...], evaluators: Evaluators = "all"
) -> tuple[str, list[Any]]:
    """SQL and parameters of the feedback that counts (latest versions) among what ``flt``
    selects, by ``evaluators``, in written order."""
    w = feedback_where(flt)
    by_evaluator = evaluator_where(evaluators)
    if by_evaluator is not None:
        w.add(by_evaluator)
    sql = f"SELECT {', '.join(columns)} FROM {eng.feedback_view} {w.sql()} ORDER BY seq"
    return sql + _window(flt.limit), w.params


def _loads(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    value = json.loads(text)
    return default if value is None else value


def _tick(report: ExportReport, progress: ProgressCallback | None, n: int) -> None:
    if progress is not None and n % PROGRESS_EVERY == 0:
        progress(report.interactions + report.feedback)


def iter_interactions(
    eng: Engine, opts: ExportOptions, report: ExportReport, progress: ProgressCallback | None
) -> Iterator[Interaction]:
    """The interactions an export selects, counted into ``report``."""
    if opts.limit == 0:
        return
    cur = eng.sql(*interaction_query(eng, opts.interaction_filter(), INTERACTION_SQL_COLUMNS))
    while rows := cur.fetchmany(FETCH_ROWS):
        for (iid, ts, prompt, response, model, provider, params, latency, t_in, t_out, t_tot,
             user, session, context, response_id, finish, error, ttft, trace, span,
             meta) in rows:  # fmt: skip
            report.interactions += 1
            _tick(report, progress, report.interactions)
            usage = None
            if t_in is not None or t_out is not None or t_tot is not None:
                usage = TokenUsage(t_in, t_out, t_tot)
            yield Interaction(
                id=iid, prompt=prompt, response=response, timestamp=ts, model=model,
                provider=provider, model_params=_loads(params, {}), latency_ms=latency,
                token_usage=usage, user_id=user, session_id=session,
                context=tuple(_loads(context, ())), metadata=_loads(meta, {}),
                response_id=response_id, finish_reasons=tuple(finish or ()), error_type=error,
                time_to_first_token_ms=ttft, trace_id=trace, span_id=span,
            )  # fmt: skip


def iter_feedback(
    eng: Engine, opts: ExportOptions, report: ExportReport, progress: ProgressCallback | None
) -> Iterator[Feedback]:
    """The feedback an export selects, counted into ``report``."""
    if opts.limit == 0:
        return
    cols = ("id", "interaction_id", '"type"', "CAST(data AS VARCHAR)", '"timestamp"', "user_id",
            "session_id", "source", "CAST(metadata AS VARCHAR)", "target_ids", "trace_id",
            "span_id", "supersedes")  # fmt: skip
    cur = eng.sql(*feedback_query(eng, opts.feedback_filter(), cols, opts.evaluators))
    while rows := cur.fetchmany(FETCH_ROWS):
        for (fid, iid, ftype, data, ts, user, session, source, meta, targets, trace, span,
             supersedes) in rows:  # fmt: skip
            report.feedback += 1
            _tick(report, progress, report.feedback)
            yield Feedback(
                id=fid, interaction_id=iid, type=FeedbackType(ftype), data=_loads(data, {}),
                timestamp=ts, user_id=user, session_id=session, source=source,
                metadata=_loads(meta, {}), target_ids=tuple(targets), trace_id=trace,
                span_id=span, supersedes=supersedes,
            )  # fmt: skip
