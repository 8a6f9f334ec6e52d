"""The records an analytics run or export selects, as engine tables (``its``, ``fbs``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from rlhf_otel.analytics._engine import Engine
from rlhf_otel.records import FeedbackFilter, FilterCondition, InteractionFilter

__all__ = [
    "NORM_SQL",
    "UNKNOWN",
    "WSCORE_SQL",
    "Where",
    "feedback_where",
    "interaction_where",
    "label",
    "select_scope",
]

UNKNOWN: Final = "(unknown)"

# 0..1 by the rating's own scale (None when unreadable), as records._signals.normalized_rating
NORM_SQL: Final = """CASE WHEN rating IS NULL OR isnan(rating) OR min_rating IS NULL
        OR max_rating IS NULL THEN NULL
     WHEN max_rating > min_rating THEN (rating - min_rating) / (max_rating - min_rating)
     ELSE 1.0 END"""


_WEIGHT: Final = (
    "CASE WHEN wm IS NULL OR cardinality(wm) = 0 THEN 1.0 ELSE coalesce(wm[k], 1.0) END"
)
# sum(w*d)/sum(w) of a multi-dimensional feedback, as records._signals.weighted_score; reads
# ``dm``/``wm``, the dimensions and weights as maps (see DIMENSION_MAPS)
WSCORE_SQL: Final = f"""CASE WHEN "type" = 'multi_dimensional' AND cardinality(dm) > 0
          AND list_sum(list_transform(map_keys(dm), lambda k: {_WEIGHT})) > 0
     THEN list_sum(list_transform(map_keys(dm), lambda k: ({_WEIGHT}) * dm[k]))
          / list_sum(list_transform(map_keys(dm), lambda k: {_WEIGHT}))
     END"""
DIMENSION_MAPS: Final = (
    "TRY_CAST(dimensions AS MAP(VARCHAR, DOUBLE)) AS dm, "
    "TRY_CAST(weights AS MAP(VARCHAR, DOUBLE)) AS wm"
)


def label(column: str) -> str:
    """SQL for a grouping label: the value, or ``(unknown)`` when null or empty."""
    return f"coalesce(nullif({column}, ''), '{UNKNOWN}')"


class Where:
    """A conjunction of SQL conditions with their parameters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, sql: str, *params: Any) -> None:
        """Add one condition."""
        self.parts.append(sql)
        self.params.extend(params)

    def sql(self) -> str:
        """``WHERE ...`` or the empty string."""
        return "WHERE " + " AND ".join(self.parts) if self.parts else ""


def interaction_where(flt: InteractionFilter) -> Where:
    """Conditions equal to ``flt.matches`` (the meaning of each field is in
    ``rlhf_otel.records.INTERACTION_FILTER_FIELDS``)."""
    return _where(flt.conditions())


def feedback_where(flt: FeedbackFilter) -> Where:
    """Conditions equal to ``flt.matches`` (the meaning of each field is in
    ``rlhf_otel.records.FEEDBACK_FILTER_FIELDS``)."""
    return _where(flt.conditions())


def _where(conditions: Sequence[FilterCondition]) -> Where:
    w = Where()
    for cond in conditions:
        sql, params = cond.sql()
        w.add(sql, *params)
    return w


def _window(limit: int | None, offset: int) -> str:
    out = ""
    if limit is not None:
        out += f" LIMIT {int(limit)}"
    if offset:
        out += f" OFFSET {int(offset)}"
    return out


def select_scope(
    engine: Engine,
    ifl: InteractionFilter | None,
    ffl: FeedbackFilter | None,
    *,
    interaction_columns: Sequence[str],
    feedback_columns: Sequence[str],
) -> tuple[int, int]:
    """Create tables ``its`` (first record of each id) and ``fbs``; return their sizes.

    ``None`` as a filter leaves its table empty. ``fbs`` gains ``norm`` (the rating on 0..1)
    , ``sat`` (binary 1/0, or ``norm``) and ``wscore`` (the weighted multi-dimensional score).
    """
    con = engine.con
    icols = ", ".join(dict.fromkeys(["seq", "id", *interaction_columns]))
    if ifl is None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE its AS SELECT {icols} FROM interactions LIMIT 0")
    else:
        w = interaction_where(ifl)
        window = _window(ifl.limit, ifl.offset)
        order = f" ORDER BY seq{window}" if window else ""
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE its AS SELECT {icols} FROM interactions "
            f"{w.sql()}{order}",
            w.params,
        )
        (dupes,) = con.execute("SELECT count(*) - count(DISTINCT id) FROM its").fetchall()[0]
        if dupes:
            # a record written twice (a retried batch) counts once: its first copy
            con.execute(
                "CREATE OR REPLACE TEMP TABLE its AS SELECT * FROM its "
                "QUALIFY row_number() OVER (PARTITION BY id ORDER BY seq) = 1"
            )
    fcols = ", ".join(
        dict.fromkeys(["seq", "id", "interaction_id", '"type"', "user_id", *feedback_columns])
    )
    sat = (
        "CASE \"type\" WHEN 'binary' THEN CASE WHEN value = 'thumbs_up' THEN 1.0 ELSE 0.0 END "
        f"WHEN 'rating' THEN {NORM_SQL} END"
    )
    source = "feedback" if ffl is None else engine.counted(ffl.start_time, ffl.end_time)
    base = (
        f"SELECT {fcols}, {NORM_SQL} AS norm, {sat} AS sat, {WSCORE_SQL} AS wscore "
        f"FROM (SELECT *, {DIMENSION_MAPS} FROM {source})"
    )
    if ffl is None or ffl.limit == 0:
        con.execute(f"CREATE OR REPLACE TEMP TABLE fbs AS {base} LIMIT 0")
    else:
        w = feedback_where(ffl)
        window = _window(ffl.limit, ffl.offset)
        order = f" ORDER BY seq{window}" if window else ""
        con.execute(f"CREATE OR REPLACE TEMP TABLE fbs AS {base} {w.sql()}{order}", w.params)
    (n_i,) = con.execute("SELECT count(*) FROM its").fetchall()[0]
    (n_f,) = con.execute("SELECT count(*) FROM fbs").fetchall()[0]
    return int(n_i), int(n_f)
