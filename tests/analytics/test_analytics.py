"""get_analytics figures against independent computations on generated data."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from rlhf_otel.analytics import get_analytics
from rlhf_otel.records import Feedback, FeedbackFilter, FeedbackType, Interaction
from rlhf_otel.stores import MemoryStore
from tests.feedback_data import T0, Dataset, generate, interaction, rating, text

END = T0 + timedelta(days=60)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate()


def _sat(fb: Feedback) -> float | None:
    if fb.type is FeedbackType.BINARY:
        return 1.0 if fb.data["value"] == "thumbs_up" else 0.0
    if fb.type is FeedbackType.RATING:
        return (fb.data["rating"] - 1) / 4
    return None


def test_stats_match_plain_counts(data: Dataset) -> None:
    """Totals, per-type counts, thumbs, ratings and the feedback rate equal plain counts."""
    s = get_analytics(data.store, FeedbackFilter(end_time=END)).stats
    fbs = data.feedback
    assert s.total_interactions == len(data.interactions)
    assert s.total_feedback == len(fbs)
    assert dict(s.by_type) == dict(Counter(f.type.value for f in fbs))
    ups = sum(1 for f in fbs if f.type is FeedbackType.BINARY and f.data["value"] == "thumbs_up")
    downs = sum(1 for f in fbs if f.type is FeedbackType.BINARY) - ups
    assert s.binary is not None
    assert (s.binary.thumbs_up, s.binary.thumbs_down) == (ups, downs)
    ratings = [f.data["rating"] for f in fbs if f.type is FeedbackType.RATING]
    assert s.rating is not None
    assert s.rating.average == pytest.approx(statistics.mean(ratings))
    assert s.rating.median == statistics.median(ratings)
    targeted = {t for f in fbs for t in (f.interaction_id, *f.target_ids)}
    assert s.feedback_rate == len(targeted & {i.id for i in data.interactions}) / 180


def _expected_scope(data: Dataset, flt: FeedbackFilter) -> tuple[list[Interaction], list[Feedback]]:
    """Independent filtering: plain comprehensions over the generated lists."""

    def in_time(ts: datetime) -> bool:
        return (flt.start_time is None or ts >= flt.start_time) and (
            flt.end_time is None or ts <= flt.end_time
        )

    its = [
        i for i in data.interactions
        if in_time(i.timestamp)
        and (flt.user_id is None or i.user_id == flt.user_id)
        and (flt.session_id is None or i.session_id == flt.session_id)
        and (flt.interaction_ids is None or i.id in flt.interaction_ids)
    ]  # fmt: skip
    fbs = []
    for f in data.feedback:
        if not in_time(f.timestamp):
            continue
        if flt.types is not None and f.type not in flt.types:
            continue
        if flt.user_id is not None and f.user_id != flt.user_id:
            continue
        if flt.session_id is not None and f.session_id != flt.session_id:
            continue
        if flt.source is not None and f.source != flt.source:
            continue
        if flt.interaction_ids is not None and not set(flt.interaction_ids) & {
            f.interaction_id,
            *f.target_ids,
        }:
            continue
        if flt.min_rating is not None or flt.max_rating is not None:
            if f.type is not FeedbackType.RATING:
                continue
            r = f.data["rating"]
            if (flt.min_rating is not None and r < flt.min_rating) or (
                flt.max_rating is not None and r > flt.max_rating
            ):
                continue
        fbs.append(f)
    fbs = fbs[flt.offset :]
    if flt.limit is not None:
        fbs = fbs[: flt.limit]
    return its, fbs


FILTERS = {
    "time": FeedbackFilter(start_time=T0 + timedelta(days=3), end_time=T0 + timedelta(days=9)),
    "types": FeedbackFilter(types=[FeedbackType.RATING, FeedbackType.TEXT], end_time=END),
    "user": FeedbackFilter(user_id="u2", end_time=END),
    "session": FeedbackFilter(session_id="s3", end_time=END),
    "source": FeedbackFilter(source="mobile", end_time=END),
    "min_rating": FeedbackFilter(min_rating=4, end_time=END),
    "max_rating": FeedbackFilter(max_rating=2, end_time=END),
    "interaction_ids": FeedbackFilter(interaction_ids=["i004a", "i010b", "i031g"], end_time=END),
    "limit_offset": FeedbackFilter(limit=50, offset=25, end_time=END),
}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_every_filter_field_is_applied(data: Dataset, name: str) -> None:
    """Each filter field changes the figures exactly as an independent filter does."""
    flt = FILTERS[name]
    its, fbs = _expected_scope(data, flt)
    result = get_analytics(data.store, flt)
    assert result.stats.total_interactions == len(its)
    assert result.stats.total_feedback == len(fbs)
    assert dict(result.stats.by_type) == dict(Counter(f.type.value for f in fbs))
    assert sum(g.feedback for g in result.breakdowns["source"]) == len(fbs)
    assert result.query["filters"]["user_id"] == flt.user_id
    assert len(fbs) < len(data.feedback)


def test_model_breakdown_matches_grouped_figures(data: Dataset) -> None:
    """Per model: interactions, feedback, thumbs ratio, rating average and satisfaction."""
    result = get_analytics(data.store, FeedbackFilter(end_time=END))
    model_of = {i.id: i.model for i in data.interactions}
    groups: dict[str, list[Feedback]] = defaultdict(list)
    for f in data.feedback:
        groups[model_of[f.interaction_id]].append(f)
    rows = {g.key: g for g in result.breakdowns["model"]}
    assert set(rows) == {"alpha", "beta", "gamma"}
    for model, fbs in groups.items():
        g = rows[model]
        assert g.interactions == 60
        assert g.feedback == len(fbs)
        bins = [f.data["value"] == "thumbs_up" for f in fbs if f.type is FeedbackType.BINARY]
        assert g.thumbs_ratio == pytest.approx(sum(bins) / len(bins))
        rs = [f.data["rating"] for f in fbs if f.type is FeedbackType.RATING]
        assert g.rating_average == pytest.approx(statistics.mean(rs))
        sats = [s for f in fbs if (s := _sat(f)) is not None]
        assert g.satisfaction == pytest.approx(statistics.mean(sats))
    assert rows["alpha"].satisfaction > rows["beta"].satisfaction > rows["gamma"].satisfaction


def test_user_session_source_breakdowns_match_pandas(data: Dataset) -> None:
    """Feedback counts per user, session and source equal a pandas group-by."""
    result = get_analytics(data.store, FeedbackFilter(end_time=END))
    df = pd.DataFrame(
        {
            "user": [f.user_id or "(unknown)" for f in data.feedback],
            "session": [f.session_id or "(unknown)" for f in data.feedback],
            "source": [f.source or "(unknown)" for f in data.feedback],
        }
    )
    for key in ("user", "session", "source"):
        expected = df.groupby(key).size().to_dict()
        assert {g.key: g.feedback for g in result.breakdowns[key]} == expected
    users = Counter(i.user_id for i in data.interactions)
    assert {g.key: g.interactions for g in result.breakdowns["user"] if g.interactions} == users


@pytest.mark.parametrize(("interval", "freq"), [("hour", "h"), ("day", "D"), ("week", "W-MON")])
def test_trends_match_pandas_buckets(data: Dataset, interval: str, freq: str) -> None:
    """Feedback and interactions per bucket equal pandas' flooring, gaps filled with zero."""
    result = get_analytics(data.store, FeedbackFilter(end_time=END), interval=interval)  # type: ignore[arg-type]
    fb_ts = pd.Series([f.timestamp for f in data.feedback])
    if interval == "week":
        buckets = fb_ts.dt.floor("D") - pd.to_timedelta(fb_ts.dt.day_of_week, unit="D")
    else:
        buckets = fb_ts.dt.floor(freq)
    expected = buckets.value_counts().to_dict()
    got = {p.start: p.feedback for p in result.trends.points}
    assert {k: v for k, v in got.items() if v} == {
        k.to_pydatetime(): v for k, v in expected.items()
    }
    starts = [p.start for p in result.trends.points]
    assert starts == sorted(starts)
    assert sum(p.interactions for p in result.trends.points) == 180


def test_month_trend_and_interval_validation() -> None:
    """Month buckets start on the 1st; an unknown interval is refused with the allowed ones."""
    store = MemoryStore(max_entries=None)
    ts = [datetime(2026, 1, 31, tzinfo=timezone.utc), datetime(2026, 3, 1, tzinfo=timezone.utc)]
    store.write([interaction(f"i{k}", "q", "a", t) for k, t in enumerate(ts)], [])
    points = get_analytics(store, interval="month").trends.points
    assert [(p.start.month, p.interactions) for p in points] == [(1, 1), (2, 0), (3, 1)]
    with pytest.raises(ValueError, match="hour, day, week or month"):
        get_analytics(store, interval="year")  # type: ignore[arg-type]


def test_latency_and_token_percentiles_match_numpy(data: Dataset) -> None:
    """Per-model latency and token percentiles equal numpy's linear percentiles."""
    result = get_analytics(data.store, FeedbackFilter(end_time=END))
    for perf in result.performance:
        its = [i for i in data.interactions if i.model == perf.model]
        lat = [i.latency_ms for i in its if i.latency_ms is not None]
        assert perf.latency_ms is not None
        assert perf.latency_ms.count == len(lat)
        for q in (50, 90, 95, 99):
            assert getattr(perf.latency_ms, f"p{q}") == pytest.approx(np.percentile(lat, q))
        toks = [i.token_usage.completion for i in its if i.token_usage is not None]
        assert perf.output_tokens is not None
        assert perf.output_tokens.p90 == pytest.approx(np.percentile(toks, 90))
        assert perf.total_tokens is None


def test_latency_vs_satisfaction_bins_cover_rated_interactions(data: Dataset) -> None:
    """Bins hold every interaction with a latency and a score, with their mean satisfaction."""
    result = get_analytics(data.store, FeedbackFilter(end_time=END))
    per: dict[str, list[float]] = defaultdict(list)
    for f in data.feedback:
        if (s := _sat(f)) is not None:
            per[f.interaction_id].append(s)
    points = sorted(
        (i.latency_ms, statistics.mean(per[i.id]))
        for i in data.interactions
        if i.latency_ms is not None and i.id in per
    )
    bins = result.latency_vs_satisfaction
    assert sum(b.interactions for b in bins) == len(points)
    first = points[: bins[0].interactions]
    assert bins[0].low == first[0][0]
    assert bins[0].satisfaction == pytest.approx(statistics.mean(s for _, s in first))


def test_top_issues_count_negative_comments(data: Dataset) -> None:
    """'too slow' is counted once per negative comment containing it; neutral apart."""
    result = get_analytics(data.store, FeedbackFilter(end_time=END), top_issues=20)
    negative = [
        f.data["comment"] for f in data.feedback
        if (f.type is FeedbackType.TEXT and f.data["sentiment"] == "negative")
        or (f.type is FeedbackType.RATING and f.data["rating"] <= 2 and f.data["comment"])
    ]  # fmt: skip
    issues = {(i.issue, i.sentiment): i for i in result.top_issues}
    slow = issues[("too slow", "negative")]
    assert slow.count == sum("too slow" in c.lower() for c in negative)
    assert ("slow", "negative") not in issues
    neutral = sum(
        1 for f in data.feedback if f.type is FeedbackType.TEXT and f.data["sentiment"] == "neutral"
    )
    assert issues[("more examples", "neutral")].count == neutral
    assert len(slow.feedback_ids) == 3


def test_feedback_on_interaction_outside_scope_is_attributed_by_lookup() -> None:
    """Feedback whose interaction lies outside the time range still counts for its model."""
    store = MemoryStore(max_entries=None)
    old = T0 - timedelta(days=30)
    store.write(
        [interaction("old", "q", "a", old, model="m1")],
        [rating("r1", "old", 5, T0), text("t1", "ghost", "bad", "negative", T0)],
    )
    result = get_analytics(store, FeedbackFilter(start_time=T0 - timedelta(days=1)))
    assert result.stats.total_interactions == 0
    assert {g.key: g.feedback for g in result.breakdowns["model"]} == {"m1": 1, "(unknown)": 1}
    assert result.notes == {"feedback_on_unknown_interaction": 1}


def test_result_serialises_to_plain_json(data: Dataset) -> None:
    """to_dict() gives JSON-ready data with every section."""
    import json

    d = get_analytics(data.store, FeedbackFilter(end_time=END)).to_dict()
    text_ = json.dumps(d)
    assert set(d) == {
        "query", "generated_at", "stats", "trends", "breakdowns", "breakdown_groups",
        "performance", "latency_vs_satisfaction", "top_issues", "rankings", "agreement", "notes",
    }  # fmt: skip
    assert json.loads(text_)["rankings"]["winner"] == "alpha"
