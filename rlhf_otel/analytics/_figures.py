"""The SQL behind stats, breakdowns, trends and per-model percentiles of ``get_analytics``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from rlhf_otel.analytics._engine import Engine
from rlhf_otel.analytics._scope import UNKNOWN, label
from rlhf_otel.analytics._text import Percentiles
from rlhf_otel.analytics._types import GroupStats, Interval, ModelPerformance
from rlhf_otel.records import (
    BinaryStats,
    ComparativeStats,
    FeedbackStats,
    MultiDimensionalStats,
    RatingStats,
    TextStats,
)

__all__ = ["feedback_stats", "group_stats", "model_lookup", "performance"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DIMS: Final = ("model", "user", "session", "source", "time")


def model_lookup(eng: Engine, notes: Counter[str]) -> None:
    """Table ``mlook(id, model)``: the model label of every interaction feedback names.

    An interaction in scope answers first; one outside it (another time range) is looked
    up in the whole store, as ``store.get_interaction`` would.
    """
    con = eng.con
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE wanted AS
        SELECT DISTINCT id FROM (
          SELECT interaction_id AS id FROM fbs
          UNION ALL SELECT preferred_response_id FROM fbs WHERE "type" = 'comparative'
          UNION ALL SELECT unnest(compared_response_ids) FROM fbs WHERE "type" = 'comparative'
        ) WHERE id IS NOT NULL
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE mlook AS
        SELECT its.id, {label("its.model")} AS model FROM its SEMI JOIN wanted USING (id)
        """
    )
    (missing,) = con.execute("SELECT count(*) FROM wanted ANTI JOIN mlook USING (id)").fetchall()[0]
    if missing:
        con.execute(
            f"""
            INSERT INTO mlook
            SELECT id, {label("model")} FROM interactions
            WHERE id IN (SELECT id FROM wanted ANTI JOIN mlook USING (id))
            QUALIFY row_number() OVER (PARTITION BY id ORDER BY seq) = 1
            """
        )
    (unknown,) = con.execute(
        "SELECT count(*) FROM fbs ANTI JOIN mlook ON mlook.id = fbs.interaction_id"
    ).fetchall()[0]
    if unknown:
        notes["feedback_on_unknown_interaction"] += int(unknown)


def feedback_stats(eng: Engine, start: datetime | None, end: datetime) -> FeedbackStats:
    """The guide's statistics of the records in scope (``records.FeedbackStats``)."""
    con = eng.con
    (n_int,) = con.execute("SELECT count(*) FROM its").fetchall()[0]
    (with_fb,) = con.execute(
        """
        SELECT count(*) FROM its WHERE id IN (
          SELECT interaction_id FROM fbs UNION ALL SELECT unnest(target_ids) FROM fbs)
        """
    ).fetchall()[0]
    by_type = {
        t: int(n)
        for t, n in con.execute(
            'SELECT "type", count(*) FROM fbs GROUP BY "type" ORDER BY min(seq)'
        ).fetchall()
    }
    total = sum(by_type.values())
    return FeedbackStats(
        total_interactions=int(n_int),
        total_feedback=total,
        feedback_rate=with_fb / n_int if n_int else 0.0,
        time_range=(start, end),
        by_type=by_type,
        binary=_binary(eng) if "binary" in by_type else None,
        rating=_rating(eng) if "rating" in by_type else None,
        text=_text(eng) if "text" in by_type else None,
        multi_dimensional=_multi(eng) if "multi_dimensional" in by_type else None,
        comparative=_comparative(eng) if "comparative" in by_type else None,
        interactions_with_feedback=int(with_fb) if n_int else 0,
    )


def _binary(eng: Engine) -> BinaryStats | None:
    up, down = eng.sql(
        """
        SELECT count(*) FILTER (WHERE value = 'thumbs_up'),
               count(*) FILTER (WHERE value IS DISTINCT FROM 'thumbs_up')
        FROM fbs WHERE "type" = 'binary'
        """
    ).fetchall()[0]
    n = up + down
    return BinaryStats(int(up), int(down), up / n) if n else None


_RATED: Final = """
SELECT rating, min_rating AS lo, max_rating AS hi,
       CASE WHEN max_rating > min_rating THEN (rating - min_rating) / (max_rating - min_rating)
            ELSE 1.0 END AS nr
FROM fbs WHERE "type" = 'rating' AND rating IS NOT NULL AND min_rating IS NOT NULL
  AND max_rating IS NOT NULL
"""


def _rating(eng: Engine) -> RatingStats | None:
    n, avg, med, avg_n, med_n = eng.sql(
        f"SELECT count(*), {_mean('rating')}, median(rating), {_mean('nr')}, median(nr) "
        f"FROM ({_RATED})"
    ).fetchall()[0]
    if not n:
        return None
    dist: dict[float, int] = {
        float(r): int(c)
        for r, c in eng.sql(f"SELECT rating, count(*) FROM ({_RATED}) GROUP BY rating").fetchall()
    }
    scales = eng.sql(f"SELECT DISTINCT lo, hi FROM ({_RATED})").fetchall()
    if len(scales) == 1:
        lo, hi = (float(v) for v in scales[0])
        if lo.is_integer() and hi.is_integer() and hi - lo <= 100:
            for value in range(int(lo), int(hi) + 1):
                dist.setdefault(float(value), 0)
    return RatingStats(
        count=int(n),
        average=float(avg),
        median=float(med),
        average_normalized=float(avg_n),
        median_normalized=float(med_n),
        distribution=dict(sorted(dist.items())),
    )


def _text(eng: Engine) -> TextStats | None:
    # one definition with records.TextStats: every text feedback counts, with or without a
    # comment; the average length is over the comments
    n, avg_len = eng.sql(
        f"SELECT count(*), {_mean('length(comment)')} FROM fbs WHERE \"type\" = 'text'"
    ).fetchall()[0]
    if not n:
        return None
    sentiments = {"positive": 0, "negative": 0, "neutral": 0, "unspecified": 0}
    for s, c in eng.sql(
        "SELECT coalesce(nullif(sentiment, ''), 'unspecified'), count(*) FROM fbs "
        "WHERE \"type\" = 'text' GROUP BY 1 ORDER BY min(seq)"
    ).fetchall():
        sentiments[s] = int(c)
    return TextStats(int(n), 0.0 if avg_len is None else float(avg_len), sentiments)


def _mean(x: str) -> str:
    """The mean of ``x`` as Python's ``statistics.fmean`` rounds it (compensated sum)."""
    return f"fsum({x}) / nullif(count({x}), 0)"


def _multi(eng: Engine) -> MultiDimensionalStats | None:
    n, avg_score = eng.sql(
        f"SELECT count(*), {_mean('wscore')} FROM fbs WHERE \"type\" = 'multi_dimensional'"
    ).fetchall()[0]
    if not n:
        return None
    rows = eng.sql(
        """
        SELECT d.key, fsum(CAST(d.value AS DOUBLE)), count(*),
               fsum(w * CAST(d.value AS DOUBLE)), fsum(w)
        FROM (SELECT seq, dimensions,
                     CASE WHEN weights IS NULL OR json_type(weights) <> 'OBJECT'
                               OR len(json_keys(weights)) = 0 THEN NULL ELSE weights END AS ws
              FROM fbs WHERE "type" = 'multi_dimensional'
                AND json_type(dimensions) = 'OBJECT') AS f,
             json_each(f.dimensions) AS d,
             LATERAL (SELECT coalesce(CAST(f.ws->>d.key AS DOUBLE), 1.0) AS w)
        GROUP BY d.key ORDER BY min(f.seq), min(d.id)
        """
    ).fetchall()
    return MultiDimensionalStats(
        count=int(n),
        dimension_averages={k: float(s) / int(c) for k, s, c, _, _ in rows},
        weighted_dimension_averages={k: float(ws) / float(w) for k, _, _, ws, w in rows if w > 0},
        average_weighted_score=None if avg_score is None else float(avg_score),
    )


def _comparative(eng: Engine) -> ComparativeStats | None:
    n, conf = eng.sql(
        f"SELECT count(*), {_mean('confidence_level')} FROM fbs WHERE \"type\" = 'comparative'"
    ).fetchall()[0]
    return ComparativeStats(int(n), None if conf is None else float(conf)) if n else None


def _bucket(interval: Interval, column: str) -> str:
    return f"CAST(epoch_us(date_trunc('{interval}', {column})) AS VARCHAR)"


def _start(key: str) -> datetime:
    return _EPOCH + timedelta(microseconds=int(key))


# which grouping set a row of GROUPING SETS ((k0), ..., (k4)) belongs to (a key may be NULL)
_DIM_OF: Final = (
    "CASE grouping(k0, k1, k2, k3, k4) WHEN 15 THEN 0 WHEN 23 THEN 1 WHEN 27 THEN 2 "
    "WHEN 29 THEN 3 ELSE 4 END"
)


def group_stats(
    eng: Engine, interval: Interval, limit: int | None
) -> tuple[dict[str, list[GroupStats]], dict[str, int], list[GroupStats]]:
    """Breakdowns by model, user, session and source (largest first), group counts, trend.

    Groups are ranked and cut to ``limit`` by the engine, so only the groups returned (and
    the trend's buckets) reach Python, however many users or sessions there are.
    """
    keys = (
        f"{label('model')} AS k0, {label('user_id')} AS k1, {label('session_id')} AS k2, "
        f"NULL::VARCHAR AS k3, {_bucket(interval, 'timestamp')} AS k4"
    )
    sets = "GROUPING SETS ((k0), (k1), (k2), (k3), (k4))"
    fkeys = (
        f"coalesce(m.model, '{UNKNOWN}') AS k0, {label('user_id')} AS k1, "
        f"{label('session_id')} AS k2, {label('source')} AS k3, "
        f"{_bucket(interval, 'fbs.timestamp')} AS k4"
    )
    fsrc = f"SELECT fbs.*, {fkeys} FROM fbs LEFT JOIN mlook AS m ON m.id = fbs.interaction_id"
    key = "coalesce(k0, k1, k2, k3, k4)"
    con = eng.con
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE grp AS
        WITH t AS (SELECT interaction_id AS id FROM fbs
                   UNION SELECT unnest(target_ids) FROM fbs),
        i AS (SELECT {keys}, t.id IS NOT NULL AS hit FROM its LEFT JOIN t ON t.id = its.id),
        gi AS (SELECT {_DIM_OF} AS dim, {key} AS key, count(*) AS n_int,
                      count(*) FILTER (WHERE hit) AS n_hit
               FROM i GROUP BY {sets} HAVING {_DIM_OF} <> 3),
        gf AS (
          SELECT {_DIM_OF} AS dim, {key} AS key, count(*) AS n_fb,
                 count(*) FILTER (WHERE "type" = 'binary' AND value = 'thumbs_up') AS up,
                 count(*) FILTER (WHERE "type" = 'binary' AND value IS DISTINCT FROM 'thumbs_up')
                   AS down,
                 count(*) FILTER (WHERE "type" = 'rating' AND norm IS NOT NULL) AS r_n,
                 coalesce(sum(rating) FILTER (WHERE "type" = 'rating' AND norm IS NOT NULL), 0)
                   AS r_sum,
                 coalesce(sum(norm) FILTER (WHERE "type" = 'rating' AND norm IS NOT NULL), 0)
                   AS r_norm,
                 count(sat) AS s_n, coalesce(sum(sat), 0) AS s_sum
          FROM ({fsrc}) GROUP BY {sets}),
        g AS (
          SELECT dim, key, coalesce(n_int, 0) AS n_int, coalesce(n_hit, 0) AS n_hit,
                 coalesce(n_fb, 0) AS n_fb, coalesce(up, 0) AS up, coalesce(down, 0) AS down,
                 coalesce(r_n, 0) AS r_n, coalesce(r_sum, 0) AS r_sum,
                 coalesce(r_norm, 0) AS r_norm, coalesce(s_n, 0) AS s_n,
                 coalesce(s_sum, 0) AS s_sum
          FROM gi FULL OUTER JOIN gf USING (dim, key))
        SELECT *, row_number() OVER (PARTITION BY dim ORDER BY n_int + n_fb DESC, key) AS r,
               count(*) OVER (PARTITION BY dim) AS groups
        FROM g
        """
    )
    cut = "" if limit is None else f"AND r <= {int(limit)}"
    kept = f"(dim = 4 OR (dim < 4 {cut}))"
    by_type: dict[tuple[int, str], dict[str, int]] = {}
    for dim, k, ftype, n in con.execute(
        f"""
        SELECT f.dim, f.key, f."type", f.n FROM (
          SELECT {_DIM_OF} AS dim, {key} AS key, "type", count(*) AS n FROM ({fsrc})
          GROUP BY GROUPING SETS ((k0, "type"), (k1, "type"), (k2, "type"), (k3, "type"),
                                  (k4, "type"))) AS f
        SEMI JOIN (SELECT dim, key FROM grp WHERE {kept}) AS g
          ON g.dim = f.dim AND g.key = f.key
        """
    ).fetchall():
        by_type.setdefault((int(dim), str(k)), {})[ftype] = int(n)
    breakdowns: dict[str, list[GroupStats]] = {name: [] for name in _DIMS[:4]}
    counts: dict[str, int] = {name: 0 for name in _DIMS[:4]}
    for dim, groups in con.execute("SELECT DISTINCT dim, groups FROM grp WHERE dim < 4").fetchall():
        counts[_DIMS[int(dim)]] = int(groups)
    trend: list[GroupStats] = []
    rows = con.execute(
        f"""SELECT dim, key, n_int, n_hit, n_fb, up, down, r_n, r_sum, r_norm, s_n, s_sum
            FROM grp WHERE {kept} ORDER BY dim, r"""
    ).fetchall()
    for dim, k, *figures in rows:
        s = [int(figures[0]), int(figures[1]), int(figures[2]), int(figures[3]),
             int(figures[4]), int(figures[5]), float(figures[6]), float(figures[7]),
             int(figures[8]), float(figures[9])]  # fmt: skip
        types = by_type.get((int(dim), str(k)), {})
        if dim == 4:
            trend.append(_group(_start(k).isoformat(), s, types, _start(k)))
        else:
            breakdowns[_DIMS[int(dim)]].append(_group(str(k), s, types))
    trend.sort(key=lambda g: g.start or _EPOCH)
    return breakdowns, counts, trend


def _group(
    key: str, s: Sequence[Any], types: Mapping[str, int], start: datetime | None = None
) -> GroupStats:
    interactions, with_fb, feedback, up, down, r_n, r_sum, r_norm, s_n, s_sum = s
    n_bin = up + down
    return GroupStats(
        key=key,
        interactions=interactions,
        feedback=feedback,
        interactions_with_feedback=with_fb,
        feedback_rate=with_fb / interactions if interactions else 0.0,
        by_type=dict(sorted(types.items())),
        thumbs_up=up,
        thumbs_down=down,
        thumbs_ratio=up / n_bin if n_bin else None,
        rating_count=r_n,
        rating_average=r_sum / r_n if r_n else None,
        rating_average_normalized=r_norm / r_n if r_n else None,
        satisfaction=s_sum / s_n if s_n else None,
        satisfaction_count=s_n,
        start=start,
    )


_PCT: Final = "count({x}), avg({x}), min({x}), quantile_cont({x}, [0.5, 0.9, 0.95, 0.99]), max({x})"


def performance(eng: Engine) -> list[ModelPerformance]:
    """Latency and token percentiles per model, most interactions first."""
    cols = {
        "lat": "CASE WHEN NOT isnan(latency_ms) THEN latency_ms END",
        "ttft": "CASE WHEN NOT isnan(time_to_first_token_ms) THEN time_to_first_token_ms END",
        "outt": "CASE WHEN output_tokens >= 0 THEN CAST(output_tokens AS DOUBLE) END",
        "tot": "CASE WHEN total_tokens >= 0 THEN CAST(total_tokens AS DOUBLE) END",
    }
    inner = ", ".join(f"{expr} AS {name}" for name, expr in cols.items())
    aggs = ", ".join(_PCT.format(x=name) for name in cols)
    sat = {
        k: (s_n, s_sum)
        for k, s_n, s_sum in eng.sql(
            f"""SELECT coalesce(m.model, '{UNKNOWN}'), count(sat), sum(sat)
                FROM fbs LEFT JOIN mlook AS m ON m.id = fbs.interaction_id GROUP BY 1"""
        ).fetchall()
    }
    out = []
    for row in eng.sql(
        f"""SELECT model, count(*), {aggs}
            FROM (SELECT {label("model")} AS model, {inner} FROM its)
            GROUP BY model ORDER BY count(*) DESC, model"""
    ).fetchall():
        model, n = row[0], int(row[1])
        pcts = [_percentiles(row[2 + 5 * i : 7 + 5 * i]) for i in range(4)]
        s_n, s_sum = sat.get(model, (0, None))
        out.append(
            ModelPerformance(
                model=model,
                interactions=n,
                latency_ms=pcts[0],
                time_to_first_token_ms=pcts[1],
                output_tokens=pcts[2],
                total_tokens=pcts[3],
                satisfaction=s_sum / s_n if s_n else None,
                satisfaction_count=int(s_n),
            )
        )
    return out


def _percentiles(v: Sequence[Any]) -> Percentiles | None:
    count, mean, lo, qs, hi = v
    if not count:
        return None
    p50, p90, p95, p99 = (float(q) for q in qs)
    return Percentiles(int(count), float(mean), float(lo), p50, p90, p95, p99, float(hi))
