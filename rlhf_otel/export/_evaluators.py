"""Which evaluators' feedback an export takes (people, judges or both), and people over judges.

``human`` (the default) takes feedback from end users and reviewers only; ``model`` takes
judges' verdicts only; ``all`` takes both, and where people gave feedback on an item a
judge's verdict on it is left out of training data (people win). Pairwise judges' verdicts
become preference pairs only when both orders agreed (one row per pair).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final, Literal

from rlhf_otel._errors import ValidationError
from rlhf_otel.recording import MODEL_SOURCES

__all__ = [
    "EVALUATORS",
    "EVALUATOR_TYPE_SQL",
    "IS_MODEL_SQL",
    "Evaluators",
    "check_evaluators",
    "evaluator_where",
    "ROW_EVALUATOR_SQL",
    "filter_training_feedback",
    "row_evaluators",
]

Evaluators = Literal["human", "model", "all"]
EVALUATORS: Final = ("human", "model", "all")
_MODEL: Final = "(" + ", ".join(f"'{s}'" for s in MODEL_SOURCES) + ")"
IS_MODEL_SQL: Final = f"coalesce(source IN {_MODEL}, false)"
"""SQL: the feedback row (a ``source`` column) is a judge's verdict."""
EVALUATOR_TYPE_SQL: Final = (
    f"CASE WHEN source = 'review' THEN 'reviewer' WHEN {IS_MODEL_SQL} THEN 'model' "
    "ELSE 'end_user' END AS evaluator_type"
)
"""SQL: the ``evaluator_type`` column (as ``rlhf_otel.recording.evaluator_type``)."""


def check_evaluators(value: object) -> Evaluators:
    """``value`` if it is one of ``human``, ``model``, ``all``.

    Raises:
        ValidationError: anything else.
    """
    if value not in EVALUATORS:
        raise ValidationError(f"evaluators must be 'human', 'model' or 'all'; got {value!r}")
    return value


def evaluator_where(evaluators: Evaluators) -> str | None:
    """The SQL condition on ``source`` that keeps ``evaluators``' feedback (``None``: all)."""
    if evaluators == "human":
        return f"NOT {IS_MODEL_SQL}"
    if evaluators == "model":
        return IS_MODEL_SQL
    return None


_INCONSISTENT: Final = f"""{IS_MODEL_SQL} AND "type" = 'comparative'
  AND json_extract_string(metadata, '$.consistent') = 'false'"""
# both orders of one pair by one judge are one verdict: keep the last written
_SECOND_ORDER: Final = f"""{IS_MODEL_SQL} AND "type" = 'comparative' AND EXISTS (
  SELECT 1 FROM fbs AS b WHERE b."type" = 'comparative' AND b.source = fbs.source
    AND b.user_id IS NOT DISTINCT FROM fbs.user_id AND b.seq > fbs.seq
    AND list_sort(b.target_ids) = list_sort(fbs.target_ids))"""
_OVERRULED: Final = f"""{IS_MODEL_SQL} AND EXISTS (
  SELECT 1 FROM fbs AS h WHERE NOT coalesce(h.source IN {_MODEL}, false)
    AND (h."type" = 'comparative') = (fbs."type" = 'comparative')
    AND len(list_intersect(h.target_ids, fbs.target_ids)) > 0)"""


def filter_training_feedback(con: Any, evaluators: Evaluators, skipped: Counter[str]) -> int:
    """Apply ``evaluators`` to the engine table ``fbs`` (with ``source``, ``metadata`` and
    ``target_ids`` columns); returns how many rows left it. Counted in ``skipped``:
    ``judge_inconsistent_pair`` (a pair whose verdict changed with the order) and
    ``judge_overruled_by_people`` (people gave feedback on the item)."""
    (before,) = con.execute("SELECT count(*) FROM fbs").fetchall()[0]
    where = evaluator_where(evaluators)
    if where is not None:
        con.execute(f"DELETE FROM fbs WHERE NOT ({where})")
    if evaluators != "human":
        con.execute(f"DELETE FROM fbs WHERE {_SECOND_ORDER}")
        (bad,) = con.execute(f"SELECT count(*) FROM fbs WHERE {_INCONSISTENT}").fetchall()[0]
        con.execute(f"DELETE FROM fbs WHERE {_INCONSISTENT}")
        if bad:
            skipped["judge_inconsistent_pair"] += int(bad)
    if evaluators == "all":
        (won,) = con.execute(f"SELECT count(*) FROM fbs WHERE {_OVERRULED}").fetchall()[0]
        if won:
            con.execute(f"DELETE FROM fbs WHERE {_OVERRULED}")
            skipped["judge_overruled_by_people"] += int(won)
    (after,) = con.execute("SELECT count(*) FROM fbs").fetchall()[0]
    return int(before) - int(after)


_ROW_EV: Final = f"""CREATE OR REPLACE TEMP TABLE row_ev AS
SELECT t AS id, cmp,
       CASE WHEN bool_and(m) THEN 'model' WHEN bool_or(m) THEN 'mixed' ELSE 'human' END AS ev
FROM (SELECT unnest(target_ids) AS t, "type" = 'comparative' AS cmp, {IS_MODEL_SQL} AS m
      FROM fbs)
GROUP BY ALL"""

ROW_EVALUATOR_SQL: Final = """CASE WHEN e.kind = 'correction' THEN 'human' ELSE coalesce((
  SELECT CASE WHEN count(DISTINCT ev) = 1 THEN any_value(ev) ELSE 'mixed' END
  FROM row_ev WHERE (id = e.win OR id = e.lose) AND cmp = (e.kind = 'comparative')), 'human')
END"""
"""SQL over a training ``events`` row ``e``: whose feedback it came from, ``human``,
``model`` or ``mixed`` (a correction is a reviewer's)."""


def row_evaluators(con: Any) -> None:
    """Create ``row_ev`` (per interaction and comparative or not: whose feedback is on it)
    from the engine table ``fbs``, for :data:`ROW_EVALUATOR_SQL`."""
    con.execute(_ROW_EV)
