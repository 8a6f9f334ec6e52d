"""``get_analytics``: stats, trends, breakdowns, percentiles, issues, rankings, agreement.

Computed by the analytics engine (DuckDB) over the views of any store: the records in
scope become two narrow tables, and each figure is one SQL aggregate over them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from rlhf_otel._errors import ValidationError
from rlhf_otel.analytics._agree_sql import agreement
from rlhf_otel.analytics._engine import AnalyticsUnavailableError, Engine, EngineConfig
from rlhf_otel.analytics._figures import (
    feedback_stats,
    group_stats,
    model_lookup,
    performance,
)
from rlhf_otel.analytics._rank import Game, rank_models
from rlhf_otel.analytics._scope import select_scope
from rlhf_otel.analytics._text import IssueCounter
from rlhf_otel.analytics._types import (
    AnalyticsResult,
    GroupStats,
    Interval,
    LatencyBin,
    Trends,
)
from rlhf_otel.records import FeedbackFilter, FeedbackStats, InteractionFilter, as_utc, utc_now
from rlhf_otel.stores import Store, store_segment_files
from rlhf_otel.stores import feedback_stats as store_own_stats

__all__ = ["bucket_start", "engine_stats", "get_analytics", "store_stats"]

MAX_FILLED_BUCKETS: Final = 5000
LOW_RATING: Final = 0.25
FETCH_ROWS: Final = 10_000
PROGRESS_STEP: Final = 10_000


def bucket_start(ts: datetime, interval: Interval) -> datetime:
    """The UTC start of the ``interval`` containing ``ts``."""
    ts = ts.astimezone(timezone.utc)
    if interval == "hour":
        return ts.replace(minute=0, second=0, microsecond=0)
    day = ts.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_bucket(start: datetime, interval: Interval) -> datetime:
    if interval == "hour":
        return start + timedelta(hours=1)
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(weeks=1)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def get_analytics(
    store: Store,
    flt: FeedbackFilter | None = None,
    *,
    interval: Interval = "day",
    top_issues: int = 10,
    breakdown_limit: int | None = 50,
    progress: Callable[[int], None] | None = None,
    engine: EngineConfig | None = None,
) -> AnalyticsResult:
    """Analytics of the records selected by ``flt``, every field of it applied.

    Feedback is what ``store.scan_feedback(flt)`` selects (time range, types, user, session,
    interaction ids, rating bounds, source, offset and limit), counting only the latest
    version of each feedback (one named in another's ``supersedes`` does not count).
    Interactions are those in the time range that match ``user_id``, ``session_id`` and
    ``interaction_ids`` (the fields that describe interactions too).

    Needs the analytics engine: ``pip install 'rlhf-otel[analytics]'``.

    Args:
        store: any store.
        flt: which records (``None``: all).
        interval: trend bucket: ``"hour"``, ``"day"`` (default), ``"week"`` or ``"month"``.
        top_issues: how many recurring terms of negative comments to return.
        breakdown_limit: most groups per breakdown, largest first (``None``: all).
        progress: called with the number of records read so far, every 10,000 records
            (in a burst once the engine has read them).
        engine: memory limit, threads and spill directory of the engine.

    Raises:
        AnalyticsUnavailableError: ``duckdb`` is not installed.
    """
    if interval not in ("hour", "day", "week", "month"):
        raise ValidationError(f"interval must be hour, day, week or month; got {interval!r}")
    flt = flt or FeedbackFilter()
    end = flt.end_time or utc_now()
    ifl = InteractionFilter(
        start_time=flt.start_time,
        end_time=end,
        user_id=flt.user_id,
        session_id=flt.session_id,
        ids=flt.interaction_ids,
    )
    ffl = FeedbackFilter(
        start_time=flt.start_time,
        end_time=end,
        types=flt.types,
        user_id=flt.user_id,
        session_id=flt.session_id,
        interaction_ids=flt.interaction_ids,
        min_rating=flt.min_rating,
        max_rating=flt.max_rating,
        source=flt.source,
        limit=flt.limit,
        offset=flt.offset,
    )
    with Engine(store, engine) as eng:
        n_i, n_f = select_scope(
            eng, ifl, ffl,
            interaction_columns=["timestamp", "model", "user_id", "session_id", "latency_ms",
                                 "time_to_first_token_ms", "output_tokens", "total_tokens"],
            feedback_columns=["timestamp", "session_id", "source", "target_ids", "value",
                              "rating", "min_rating", "max_rating", "comment", "sentiment",
                              "dimensions", "weights", "preferred_response_id",
                              "compared_response_ids", "confidence_level", "outcome"],
        )  # fmt: skip
        if progress is not None:
            # the engine reads in bulk: report each 10,000 records it has read by now
            for n in range(PROGRESS_STEP, n_i + n_f + 1, PROGRESS_STEP):
                progress(n)
        notes: Counter[str] = Counter()
        model_lookup(eng, notes)
        stats = feedback_stats(eng, flt.start_time, end)
        groups, counts, buckets = group_stats(eng, interval, breakdown_limit)
        perf = performance(eng)
        lat_bins = _latency_bins(eng)
        issues = _issues(eng, top_issues)
        games = _games(eng, notes)
        rankings = rank_models(games, {k: v for k, v in notes.items() if k.startswith("comp")})
        agree = agreement(eng)
    points = _fill_gaps(buckets, interval)
    return AnalyticsResult(
        query=_query(flt, interval),
        generated_at=utc_now(),
        stats=stats,
        trends=Trends(interval, points),
        breakdowns=groups,
        breakdown_groups=counts,
        performance=perf,
        latency_vs_satisfaction=lat_bins,
        top_issues=issues,
        rankings=rankings,
        agreement=agree,
        notes=dict(sorted(notes.items())),
    )


def engine_stats(
    store: Store,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    engine: EngineConfig | None = None,
) -> FeedbackStats:
    """``get_feedback_stats`` computed by the engine: the figures of ``get_analytics().stats``
    over ``[start, end]`` (``end`` defaults to now)."""
    end = end or utc_now()
    with Engine(store, engine) as eng:
        select_scope(
            eng, InteractionFilter(start_time=start, end_time=end),
            FeedbackFilter(start_time=start, end_time=end),
            interaction_columns=[], feedback_columns=["target_ids", "value", "rating",
                                                      "min_rating", "max_rating", "comment",
                                                      "sentiment", "dimensions", "weights",
                                                      "confidence_level"],
        )  # fmt: skip
        return feedback_stats(eng, start, end)


def store_stats(
    store: Store,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    engine: EngineConfig | None = None,
) -> FeedbackStats:
    """``get_feedback_stats`` of any store by its fastest path: the engine's figures
    (:func:`engine_stats`) when the store keeps its records in files the engine reads in
    place (the JSONL store) and the engine is installed; otherwise the store's own path
    (``rlhf_otel.stores.feedback_stats``). Both paths give the same figures.

    ``end`` defaults to now; naive times are local time.
    """
    start, end = as_utc(start), as_utc(end) or utc_now()
    if store_segment_files(store, "feedback") is not None:
        try:
            return engine_stats(store, start, end, engine=engine)
        except AnalyticsUnavailableError:
            pass
    return store_own_stats(store, start, end)


def _latency_bins(eng: Engine, bins: int = 10) -> list[LatencyBin]:
    """Equal-count latency bins of rated interactions' (latency, mean satisfaction)."""
    rows = eng.sql(
        f"""
        WITH pts AS (
          SELECT its.latency_ms AS lat, s.sat
          FROM its JOIN (SELECT interaction_id, avg(sat) AS sat FROM fbs
                         WHERE sat IS NOT NULL GROUP BY interaction_id) AS s
            ON s.interaction_id = its.id
          WHERE its.latency_ms IS NOT NULL AND NOT isnan(its.latency_ms)
        ), ranked AS (
          SELECT lat, sat, row_number() OVER (ORDER BY lat, sat) - 1 AS i,
                 count(*) OVER () AS n FROM pts
        ), binned AS (
          SELECT lat, sat, i,
                 ((i + 1) * least({bins}, n) + n - 1) // n - 1 AS b FROM ranked
        )
        SELECT min(lat), max(lat), count(*), avg(sat) FROM binned GROUP BY b ORDER BY b
        """
    ).fetchall()
    return [LatencyBin(float(lo), float(hi), int(n), float(s)) for lo, hi, n, s in rows]


def _issues(eng: Engine, top: int) -> list[Any]:
    issues = IssueCounter()
    cur = eng.sql(
        f"""
        SELECT comment, CASE WHEN "type" = 'text' THEN sentiment ELSE 'negative' END, id
        FROM fbs
        WHERE coalesce(comment, '') <> '' AND (
          ("type" = 'text' AND sentiment IN ('negative', 'neutral'))
          OR ("type" = 'rating' AND norm IS NOT NULL AND norm <= {LOW_RATING}))
        ORDER BY seq
        """
    )
    while rows := cur.fetchmany(FETCH_ROWS):
        for comment, sentiment, fid in rows:
            issues.add(comment, sentiment, fid)
    return issues.top(top)


def _games(eng: Engine, notes: Counter[str]) -> list[Game]:
    """(winner, loser) model pairs of comparisons, in the order they were given; a tie is
    (a, b, 0.5) and a both-bad vote is skipped and counted."""
    (both_bad,) = eng.sql(
        """SELECT count(*) FROM fbs WHERE "type" = 'comparative' AND outcome = 'both_bad'"""
    ).fetchall()[0]
    if both_bad:
        notes["comparison_both_bad"] += both_bad
    cur = eng.sql(
        """
        SELECT w.model, l.model, c.outcome = 'tie'
        FROM (SELECT seq, preferred_response_id AS pref, outcome,
                     unnest(compared_response_ids) AS other,
                     generate_subscripts(compared_response_ids, 1) AS pos
              FROM fbs WHERE "type" = 'comparative' AND outcome <> 'both_bad') AS c
        LEFT JOIN mlook AS w ON w.id = c.pref
        LEFT JOIN mlook AS l ON l.id = c.other
        ORDER BY c.seq, c.pos
        """
    )
    games: list[Game] = []
    unknown = "(unknown)"
    while rows := cur.fetchmany(FETCH_ROWS):
        for winner, loser, tie in rows:
            if winner is None or loser is None:
                notes["comparison_interaction_not_found"] += 1
            elif winner == unknown or loser == unknown:
                notes["comparison_model_unknown"] += 1
            elif winner == loser:
                notes["comparison_same_model"] += 1
            else:
                games.append((winner, loser, 0.5) if tie else (winner, loser))
    return games


def _fill_gaps(points: list[GroupStats], interval: Interval) -> list[GroupStats]:
    if len(points) < 2:
        return points
    first, last = points[0].start, points[-1].start
    assert first is not None
    assert last is not None
    have = {p.start: p for p in points}
    out: list[GroupStats] = []
    cur = first
    while cur <= last and len(out) < MAX_FILLED_BUCKETS:
        out.append(have.get(cur) or _empty(cur))
        cur = _next_bucket(cur, interval)
    return out if cur > last else points


def _empty(start: datetime) -> GroupStats:
    return GroupStats(
        key=start.isoformat(), interactions=0, feedback=0, interactions_with_feedback=0,
        feedback_rate=0.0, by_type={}, thumbs_up=0, thumbs_down=0, thumbs_ratio=None,
        rating_count=0, rating_average=None, rating_average_normalized=None,
        satisfaction=None, satisfaction_count=0, start=start,
    )  # fmt: skip


def _query(flt: FeedbackFilter, interval: Interval) -> dict[str, Any]:
    def iso(ts: datetime | None) -> str | None:
        return None if ts is None else ts.isoformat()

    return {
        "start_time": iso(flt.start_time),
        "end_time": iso(flt.end_time),
        "filters": {
            "types": None if flt.types is None else [t.value for t in flt.types],
            "user_id": flt.user_id,
            "session_id": flt.session_id,
            "interaction_ids": None if flt.interaction_ids is None else list(flt.interaction_ids),
            "min_rating": flt.min_rating,
            "max_rating": flt.max_rating,
            "source": flt.source,
            "limit": flt.limit,
            "offset": flt.offset,
        },
        "interval": interval,
    }
