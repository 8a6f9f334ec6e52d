"""Agreement between raters in SQL: per item over the raters present on it.

Each figure is built from per-item tallies (value counts of an item, pairs of raters on an
item), so the work grows with the ratings, never with raters x raters x items.
"""

from __future__ import annotations

from collections.abc import Hashable

from rlhf_otel.analytics._agree import alpha_from_coincidences
from rlhf_otel.analytics._engine import Engine
from rlhf_otel.analytics._types import AgreementStats
from rlhf_otel.recording import MODEL_SOURCES

__all__ = ["agreement"]

_MODEL = ", ".join(f"'{s}'" for s in MODEL_SOURCES)

# The latest judgement of each rater on each item, per kind (rating, binary, dimension:x);
# people only: a judge's verdicts (evaluator type model) are measured in rlhf_otel.judges.
_JUDGEMENTS = f"""
CREATE OR REPLACE TEMP TABLE judg AS
WITH people AS (SELECT * FROM fbs WHERE NOT coalesce(source IN ({_MODEL}), false))
SELECT kind, item, rater, arg_max_null(val, seq) AS val, arg_max_null(num, seq) AS num FROM (
  SELECT 'rating' AS kind, interaction_id AS item, user_id AS rater, seq,
         CAST(rating AS VARCHAR) AS val, rating AS num
  FROM people WHERE "type" = 'rating' AND norm IS NOT NULL AND coalesce(user_id, '') <> ''
  UNION ALL
  SELECT 'binary', interaction_id, user_id, seq, coalesce(value, 'None'), NULL
  FROM people WHERE "type" = 'binary' AND coalesce(user_id, '') <> ''
  UNION ALL
  SELECT 'dimension:' || d.key, f.interaction_id, f.user_id, f.seq,
         CAST(CAST(d.value AS DOUBLE) AS VARCHAR), CAST(d.value AS DOUBLE)
  FROM people AS f, json_each(f.dimensions) AS d
  WHERE f."type" = 'multi_dimensional' AND f.wscore IS NOT NULL
    AND coalesce(f.user_id, '') <> ''
)
GROUP BY kind, item, rater
"""

_UNITS = """
CREATE OR REPLACE TEMP TABLE uj AS
SELECT j.*, u.m FROM judg AS j
JOIN (SELECT kind, item, count(*) AS m FROM judg GROUP BY kind, item HAVING count(*) >= 2) AS u
  USING (kind, item)
"""

_SUMMARY = """
SELECT kind, count(DISTINCT item), count(DISTINCT rater), count(*) FROM uj GROUP BY kind
"""

_VALUE_COUNTS = """
CREATE OR REPLACE TEMP TABLE uc AS
SELECT kind, item, val, any_value(num) AS num, count(*) AS nc, any_value(m) AS m
FROM uj GROUP BY kind, item, val
"""

_COINCIDENCE = """
SELECT a.kind, a.val, any_value(a.num), b.val, any_value(b.num),
       sum(CASE WHEN a.val = b.val THEN a.nc * (a.nc - 1) ELSE a.nc * b.nc END / (a.m - 1))
FROM uc AS a JOIN uc AS b ON a.kind = b.kind AND a.item = b.item
GROUP BY a.kind, a.val, b.val
"""

_FLEISS = """
SELECT kind, sum(agree), count(*), sum(m) FROM (
  SELECT kind, item, (sum(nc * nc) - any_value(m)) / (any_value(m) * (any_value(m) - 1)) AS agree,
         any_value(m) AS m
  FROM uc GROUP BY kind, item
) GROUP BY kind
"""

_FLEISS_TOTALS = "SELECT kind, sum(nc) FROM uc GROUP BY kind, val"

# Cohen's kappa of every pair of raters with two or more items in common, from the pairs
# of raters present on each item.
_COHEN = """
WITH p AS (
  SELECT a.kind, a.rater AS ra, b.rater AS rb, a.val AS va, b.val AS vb
  FROM uj AS a JOIN uj AS b ON a.kind = b.kind AND a.item = b.item AND a.rater < b.rater
), pk AS (
  SELECT kind, ra, rb, count(*) AS n, count(*) FILTER (WHERE va <> vb) AS dis
  FROM p GROUP BY ALL HAVING count(*) >= 2
), ca AS (
  SELECT kind, ra, rb, va AS x, count(*) AS c FROM p SEMI JOIN pk USING (kind, ra, rb)
  GROUP BY ALL
), cb AS (
  SELECT kind, ra, rb, vb AS x, count(*) AS c FROM p SEMI JOIN pk USING (kind, ra, rb)
  GROUP BY ALL
), s AS (
  SELECT kind, ra, rb, sum(ca.c * cb.c) AS same FROM ca JOIN cb USING (kind, ra, rb, x)
  GROUP BY ALL
), k AS (
  SELECT pk.kind, (pk.dis / pk.n) / ((pk.n * pk.n - coalesce(s.same, 0)) / (pk.n * pk.n))
         AS ratio
  FROM pk LEFT JOIN s USING (kind, ra, rb)
  WHERE pk.n * pk.n - coalesce(s.same, 0) <> 0
)
SELECT kind, avg(1.0 - ratio), count(*) FROM k GROUP BY kind
"""


def agreement(engine: Engine) -> list[AgreementStats]:
    """Agreement per kind of judgement over the feedback in table ``fbs``."""
    con = engine.con
    con.execute(_JUDGEMENTS)
    con.execute(_UNITS)
    summary = {k: (int(i), int(r), int(v)) for k, i, r, v in con.execute(_SUMMARY).fetchall()}
    if not summary:
        return []
    con.execute(_VALUE_COUNTS)
    coincidence: dict[str, dict[tuple[Hashable, Hashable], float]] = {}
    for kind, va, na, vb, nb, o in con.execute(_COINCIDENCE).fetchall():
        if o:
            c = va if na is None else float(na)
            k = vb if nb is None else float(nb)
            coincidence.setdefault(kind, {})[(c, k)] = float(o)
    fleiss = {k: (float(a), int(n), int(m)) for k, a, n, m in con.execute(_FLEISS).fetchall()}
    totals: dict[str, list[int]] = {}
    for kind, total in con.execute(_FLEISS_TOTALS).fetchall():
        totals.setdefault(kind, []).append(int(total))
    cohen = {k: (float(v), int(n)) for k, v, n in con.execute(_COHEN).fetchall()}
    out = []
    for kind in sorted(summary, key=lambda k: (k.startswith("dimension:"), k)):
        items, raters, values = summary[kind]
        numeric = kind != "binary"
        coinc = coincidence.get(kind, {})
        nominal = alpha_from_coincidences(coinc, "nominal")
        kappa, pairs = cohen.get(kind, (None, 0))
        out.append(
            AgreementStats(
                kind=kind,
                items=items,
                raters=raters,
                values=values,
                krippendorff_alpha=alpha_from_coincidences(coinc, "interval")
                if numeric
                else nominal,
                krippendorff_alpha_ordinal=alpha_from_coincidences(coinc, "ordinal")
                if numeric
                else None,
                krippendorff_alpha_nominal=nominal,
                fleiss_kappa=_fleiss(fleiss.get(kind), totals.get(kind, [])),
                cohen_kappa=kappa,
                cohen_pairs=pairs,
            )
        )
    return out


def _fleiss(per_item: tuple[float, int, int] | None, totals: list[int]) -> float | None:
    if per_item is None or per_item[1] == 0:
        return None
    agreement_sum, n_items, n_ratings = per_item
    p_bar = agreement_sum / n_items
    p_e = sum((c / n_ratings) ** 2 for c in totals)
    if p_e >= 1.0:
        return None
    return (p_bar - p_e) / (1.0 - p_e)
