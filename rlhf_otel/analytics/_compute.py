"""``get_analytics``: stats, trends, breakdowns, percentiles, issues, rankings, agreement.

Everything is computed over the store Protocol in one pass over the interactions and one
over the feedback, so every store (including a user's own) gets it.
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from rlhf_otel._errors import ValidationError
from rlhf_otel.analytics._agree import cohen_kappa, fleiss_kappa, krippendorff_alpha
from rlhf_otel.analytics._rank import Game, rank_models
from rlhf_otel.analytics._text import IssueCounter, percentiles
from rlhf_otel.analytics._types import (
    AgreementStats,
    AnalyticsResult,
    GroupStats,
    Interval,
    LatencyBin,
    ModelPerformance,
    Trends,
)
from rlhf_otel.records import (
    Feedback,
    FeedbackFilter,
    FeedbackType,
    Interaction,
    InteractionFilter,
    StatsAccumulator,
    normalized_rating,
    satisfaction,
    utc_now,
    weighted_score,
)
from rlhf_otel.stores import Store

__all__ = ["get_analytics"]

UNKNOWN: Final = "(unknown)"
MAX_FILLED_BUCKETS: Final = 5000
LOW_RATING: Final = 0.25
_NAN: Final = math.nan


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


@dataclass(slots=True)
class _Group:
    interactions: int = 0
    with_feedback: int = 0
    feedback: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    up: int = 0
    down: int = 0
    r_n: int = 0
    r_sum: float = 0.0
    r_norm_sum: float = 0.0
    s_n: int = 0
    s_sum: float = 0.0

    def add_feedback(self, ftype: str, data: Mapping[str, Any], sat: float | None) -> None:
        self.feedback += 1
        self.by_type[ftype] += 1
        if ftype == "binary":
            if data.get("value") == "thumbs_up":
                self.up += 1
            else:
                self.down += 1
        elif ftype == "rating":
            norm = normalized_rating(data)
            if norm is not None:
                self.r_n += 1
                self.r_sum += float(data["rating"])
                self.r_norm_sum += norm
        if sat is not None:
            self.s_n += 1
            self.s_sum += sat

    def result(self, key: str, start: datetime | None = None) -> GroupStats:
        n_bin = self.up + self.down
        return GroupStats(
            key=key,
            interactions=self.interactions,
            feedback=self.feedback,
            interactions_with_feedback=self.with_feedback,
            feedback_rate=self.with_feedback / self.interactions if self.interactions else 0.0,
            by_type=dict(sorted(self.by_type.items())),
            thumbs_up=self.up,
            thumbs_down=self.down,
            thumbs_ratio=self.up / n_bin if n_bin else None,
            rating_count=self.r_n,
            rating_average=self.r_sum / self.r_n if self.r_n else None,
            rating_average_normalized=self.r_norm_sum / self.r_n if self.r_n else None,
            satisfaction=self.s_sum / self.s_n if self.s_n else None,
            satisfaction_count=self.s_n,
            start=start,
        )


class _Groups:
    """Groups keyed by a string, created on first use."""

    def __init__(self) -> None:
        self.items: dict[Any, _Group] = {}

    def get(self, key: Any) -> _Group:
        g = self.items.get(key)
        if g is None:
            g = self.items[key] = _Group()
        return g

    def ranked(self, limit: int | None) -> list[GroupStats]:
        rows = sorted(
            self.items.items(),
            key=lambda kv: (-(kv[1].interactions + kv[1].feedback), str(kv[0])),
        )
        return [g.result(str(k)) for k, g in rows[:limit]]


def _floats() -> array[float]:
    return array("d")


def _ints() -> array[int]:
    return array("q")


@dataclass(slots=True)
class _Index:
    """Compact per-interaction columns of the interactions in scope.

    Numbers live in typed arrays (NaN / -1 for missing) and names and buckets are interned,
    so a million interactions cost tens of megabytes, not hundreds.
    """

    pos: dict[str, int] = field(default_factory=dict)
    names: dict[Any, Any] = field(default_factory=dict)
    model: list[str] = field(default_factory=list)
    user: list[str] = field(default_factory=list)
    session: list[str] = field(default_factory=list)
    bucket: list[datetime] = field(default_factory=list)
    latency: array[float] = field(default_factory=_floats)
    ttft: array[float] = field(default_factory=_floats)
    out_tokens: array[int] = field(default_factory=_ints)
    total_tokens: array[int] = field(default_factory=_ints)
    has_feedback: bytearray = field(default_factory=bytearray)
    s_sum: array[float] = field(default_factory=_floats)
    s_n: array[int] = field(default_factory=_ints)

    def intern(self, value: Any) -> Any:
        return self.names.setdefault(value, value)


def _label(value: str | None) -> str:
    return value if value else UNKNOWN


class _Agreement:
    """The latest value each user gave each interaction, per kind of judgement."""

    def __init__(self) -> None:
        # One judgement is kept as a (user, value) tuple; a dict only once a second user
        # judges the same interaction, since most interactions have a single rater.
        self.values: dict[str, dict[str, tuple[str, Any] | dict[str, Any]]] = {}

    def add(self, kind: str, interaction_id: str, user: str, value: Any) -> None:
        per = self.values.setdefault(kind, {})
        old = per.get(interaction_id)
        if old is None or (isinstance(old, tuple) and old[0] == user):
            per[interaction_id] = (user, value)
        elif isinstance(old, tuple):
            per[interaction_id] = {old[0]: old[1], user: value}
        else:
            old[user] = value

    def results(self) -> list[AgreementStats]:
        out = []
        for kind in sorted(self.values, key=lambda k: (k.startswith("dimension:"), k)):
            items = {i: v for i, v in self.values[kind].items() if isinstance(v, dict)}
            if not items:
                continue
            units = [list(v.values()) for v in items.values()]
            raters = {u for v in items.values() for u in v}
            numeric = kind != "binary"
            pair_kappas = []
            for a, b in itertools.combinations(sorted(raters), 2):
                common = [(v[a], v[b]) for v in items.values() if a in v and b in v]
                if len(common) >= 2:
                    k = cohen_kappa([x for x, _ in common], [y for _, y in common])
                    if k is not None:
                        pair_kappas.append(k)
            out.append(
                AgreementStats(
                    kind=kind,
                    items=len(items),
                    raters=len(raters),
                    values=sum(len(u) for u in units),
                    krippendorff_alpha=krippendorff_alpha(
                        units, "interval" if numeric else "nominal"
                    ),
                    krippendorff_alpha_ordinal=krippendorff_alpha(units, "ordinal")
                    if numeric
                    else None,
                    krippendorff_alpha_nominal=krippendorff_alpha(units, "nominal"),
                    fleiss_kappa=fleiss_kappa(Counter(u) for u in units),
                    cohen_kappa=sum(pair_kappas) / len(pair_kappas) if pair_kappas else None,
                    cohen_pairs=len(pair_kappas),
                )
            )
        return out


def _latency_bins(points: list[tuple[float, float]], bins: int = 10) -> list[LatencyBin]:
    """Equal-count latency bins of (latency, satisfaction) points."""
    if not points:
        return []
    points.sort()
    n = len(points)
    k = min(bins, n)
    out = []
    for b in range(k):
        chunk = points[b * n // k : (b + 1) * n // k]
        if chunk:
            sat = sum(s for _, s in chunk) / len(chunk)
            out.append(LatencyBin(chunk[0][0], chunk[-1][0], len(chunk), sat))
    return out


def get_analytics(
    store: Store,
    flt: FeedbackFilter | None = None,
    *,
    interval: Interval = "day",
    top_issues: int = 10,
    breakdown_limit: int | None = 50,
    progress: Callable[[int], None] | None = None,
) -> AnalyticsResult:
    """Analytics of the records selected by ``flt``, every field of it applied.

    Feedback is exactly ``store.scan_feedback(flt)`` (time range, types, user, session,
    interaction ids, rating bounds, source, offset and limit). Interactions are those in the
    time range that match ``user_id``, ``session_id`` and ``interaction_ids`` (the fields
    that describe interactions too).

    Args:
        store: any store.
        flt: which records (``None``: all).
        interval: trend bucket: ``"hour"``, ``"day"`` (default), ``"week"`` or ``"month"``.
        top_issues: how many recurring terms of negative comments to return.
        breakdown_limit: most groups per breakdown, largest first (``None``: all).
        progress: called with the number of records read so far, every 10,000 records.
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
    acc = StatsAccumulator()
    idx = _Index()
    groups = {k: _Groups() for k in ("model", "user", "session", "source", "time")}
    count = 0
    for it in store.scan_interactions(ifl):
        count += 1
        if progress is not None and count % 10_000 == 0:
            progress(count)
        _add_interaction(it, acc, idx, groups, interval)
    notes: Counter[str] = Counter()
    looked_up: dict[str, str | None] = {}

    def model_of(iid: str) -> str | None:
        p = idx.pos.get(iid)
        if p is not None:
            return idx.model[p]
        if iid not in looked_up:
            other = store.get_interaction(iid)
            looked_up[iid] = None if other is None else _label(other.model)
        return looked_up[iid]

    games: list[Game] = []
    issues = IssueCounter()
    agreement = _Agreement()
    for fb in store.scan_feedback(ffl):
        count += 1
        if progress is not None and count % 10_000 == 0:
            progress(count)
        acc.add_feedback(fb)
        _add_feedback(fb, idx, groups, interval, model_of, notes)
        if fb.type is FeedbackType.COMPARATIVE:
            _add_games(fb, model_of, games, notes)
        _add_issue(fb, issues)
        _add_agreement(fb, agreement)
    performance, lat_points = _finish_interactions(idx, groups)
    stats = acc.result(flt.start_time, end)
    time_groups = groups["time"].items
    points = [g.result(k.isoformat(), start=k) for k, g in sorted(time_groups.items())]
    points = _fill_gaps(points, interval)
    rankings = rank_models(games, {k: v for k, v in notes.items() if k.startswith("comparison")})
    return AnalyticsResult(
        query=_query(flt, interval),
        generated_at=utc_now(),
        stats=stats,
        trends=Trends(interval, points),
        breakdowns={
            k: groups[k].ranked(breakdown_limit) for k in ("model", "user", "session", "source")
        },
        breakdown_groups={k: len(groups[k].items) for k in ("model", "user", "session", "source")},
        performance=performance,
        latency_vs_satisfaction=_latency_bins(lat_points),
        top_issues=issues.top(top_issues),
        rankings=rankings,
        agreement=agreement.results(),
        notes=dict(sorted(notes.items())),
    )


def _add_interaction(
    it: Interaction, acc: StatsAccumulator, idx: _Index, groups: dict[str, _Groups],
    interval: Interval,
) -> None:  # fmt: skip
    acc.add_interaction(it)
    if it.id in idx.pos:
        return
    idx.pos[it.id] = len(idx.model)
    model = idx.intern(_label(it.model))
    user = idx.intern(_label(it.user_id))
    session = idx.intern(_label(it.session_id))
    bucket = idx.intern(bucket_start(it.timestamp, interval))
    idx.model.append(model)
    idx.user.append(user)
    idx.session.append(session)
    idx.bucket.append(bucket)
    idx.latency.append(_NAN if it.latency_ms is None else float(it.latency_ms))
    ttft = it.time_to_first_token_ms
    idx.ttft.append(_NAN if ttft is None else float(ttft))
    u = it.token_usage
    idx.out_tokens.append(-1 if u is None or u.completion is None else int(u.completion))
    idx.total_tokens.append(-1 if u is None or u.total is None else int(u.total))
    idx.has_feedback.append(0)
    idx.s_sum.append(0.0)
    idx.s_n.append(0)
    for name, key in (("model", model), ("user", user), ("session", session), ("time", bucket)):
        groups[name].get(key).interactions += 1


def _add_feedback(
    fb: Feedback, idx: _Index, groups: dict[str, _Groups], interval: Interval,
    model_of: Callable[[str], str | None], notes: Counter[str],
) -> None:  # fmt: skip
    ftype = fb.type.value
    sat = satisfaction(ftype, fb.data)
    for target in dict.fromkeys((fb.interaction_id, *fb.target_ids)):
        p = idx.pos.get(target)
        if p is not None:
            idx.has_feedback[p] = 1
    p = idx.pos.get(fb.interaction_id)
    if p is not None and sat is not None:
        idx.s_sum[p] += sat
        idx.s_n[p] += 1
    model = model_of(fb.interaction_id)
    if model is None:
        notes["feedback_on_unknown_interaction"] += 1
    groups["model"].get(model or UNKNOWN).add_feedback(ftype, fb.data, sat)
    groups["user"].get(_label(fb.user_id)).add_feedback(ftype, fb.data, sat)
    groups["session"].get(_label(fb.session_id)).add_feedback(ftype, fb.data, sat)
    groups["source"].get(_label(fb.source)).add_feedback(ftype, fb.data, sat)
    groups["time"].get(bucket_start(fb.timestamp, interval)).add_feedback(ftype, fb.data, sat)


def _add_games(
    fb: Feedback, model_of: Callable[[str], str | None], games: list[Game],
    notes: Counter[str],
) -> None:  # fmt: skip
    outcome = fb.data.get("outcome") or "preferred"
    if outcome == "both_bad":
        notes["comparison_both_bad"] += 1
        return
    winner = model_of(str(fb.data["preferred_response_id"]))
    for other in fb.data.get("compared_response_ids") or ():
        loser = model_of(str(other))
        if winner is None or loser is None:
            notes["comparison_interaction_not_found"] += 1
        elif winner == UNKNOWN or loser == UNKNOWN:
            notes["comparison_model_unknown"] += 1
        elif winner == loser:
            notes["comparison_same_model"] += 1
        else:
            games.append((winner, loser, 0.5) if outcome == "tie" else (winner, loser))


def _add_issue(fb: Feedback, issues: IssueCounter) -> None:
    d = fb.data
    if fb.type is FeedbackType.TEXT:
        sentiment = d.get("sentiment")
        if sentiment in ("negative", "neutral") and d.get("comment"):
            issues.add(str(d["comment"]), str(sentiment), fb.id)
    elif fb.type is FeedbackType.RATING:
        norm = normalized_rating(d)
        if norm is not None and norm <= LOW_RATING and d.get("comment"):
            issues.add(str(d["comment"]), "negative", fb.id)


def _add_agreement(fb: Feedback, agreement: _Agreement) -> None:
    if not fb.user_id:
        return
    d = fb.data
    if fb.type is FeedbackType.RATING:
        norm = normalized_rating(d)
        if norm is not None:
            agreement.add("rating", fb.interaction_id, fb.user_id, float(d["rating"]))
    elif fb.type is FeedbackType.BINARY:
        agreement.add("binary", fb.interaction_id, fb.user_id, str(d.get("value")))
    elif fb.type is FeedbackType.MULTI_DIMENSIONAL and weighted_score(d) is not None:
        for name, value in d["dimensions"].items():
            agreement.add(f"dimension:{name}", fb.interaction_id, fb.user_id, float(value))


def _finish_interactions(
    idx: _Index, groups: dict[str, _Groups]
) -> tuple[list[ModelPerformance], list[tuple[float, float]]]:
    per_model: dict[str, list[int]] = {}
    lat_points: list[tuple[float, float]] = []
    for p, has in enumerate(idx.has_feedback):
        per_model.setdefault(idx.model[p], []).append(p)
        if has:
            groups["model"].get(idx.model[p]).with_feedback += 1
            groups["user"].get(idx.user[p]).with_feedback += 1
            groups["session"].get(idx.session[p]).with_feedback += 1
            groups["time"].get(idx.bucket[p]).with_feedback += 1
        lat = idx.latency[p]
        if lat == lat and idx.s_n[p]:
            lat_points.append((lat, idx.s_sum[p] / idx.s_n[p]))
    performance = []
    for model, rows in sorted(per_model.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        g = groups["model"].get(model)
        performance.append(
            ModelPerformance(
                model=model,
                interactions=len(rows),
                latency_ms=percentiles(v for p in rows if (v := idx.latency[p]) == v),
                time_to_first_token_ms=percentiles(v for p in rows if (v := idx.ttft[p]) == v),
                output_tokens=percentiles(float(v) for p in rows if (v := idx.out_tokens[p]) >= 0),
                total_tokens=percentiles(float(v) for p in rows if (v := idx.total_tokens[p]) >= 0),
                satisfaction=g.s_sum / g.s_n if g.s_n else None,
                satisfaction_count=g.s_n,
            )
        )
    return performance, lat_points


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
        out.append(have.get(cur) or _Group().result(cur.isoformat(), start=cur))
        cur = _next_bucket(cur, interval)
    return out if cur > last else points


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
