"""An independent pandas reference, written from the documented rules, equals every reader.

The data has repeated feedback ids (retried writes, some with another payload), changed
votes (``supersedes``), repeated votes by one rater with fresh ids, corrections, text with
and without comments, several raters (and anonymous feedback) and three models per prompt.
The reference follows docs/analytics-and-exports.md ("Which feedback counts", "Text
figures", "Training sets for TRL") and docs/review.md (corrections); it shares no code with
the package. Compared: ``get_feedback_stats``, ``get_analytics().stats`` (whole store and a
time range), the record export's ids, DPO, reward, KTO and SFT rows, and ``sql`` counts, on
the memory and the JSONL store, over three seeds.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]  # no type information installed
import pytest

from rlhf_otel.cli import main
from rlhf_otel.cli._commands import OneLineErrorParser, register
from rlhf_otel.export import export_feedback, get_analytics
from rlhf_otel.records import Feedback, FeedbackFilter, FeedbackType, Interaction
from rlhf_otel.stores import JsonlStore, MemoryStore, Store, feedback_stats

T0 = datetime(2025, 6, 1, tzinfo=timezone.utc)
END = T0 + timedelta(days=30)
MODELS = ("alpha", "beta", "gamma")
RATERS = ("r0", "r1", "r2", "r3", None)


def _data(seed: int) -> tuple[list[Interaction], list[list[Feedback]]]:
    """Interactions, and feedback in write batches (a later batch may repeat ids)."""
    rnd = random.Random(seed)
    its: list[Interaction] = []
    prompts: list[list[str]] = []
    for p in range(14):
        ids = []
        for m, model in enumerate(MODELS):
            iid = f"s{seed}-p{p}-{model}"
            # two prompts have two equal answers (identical responses are never paired)
            response = f"answer {p}" if p < 2 and m < 2 else f"answer {p} by {model} {rnd.random()}"
            its.append(
                Interaction(
                    id=iid,
                    prompt=f"prompt {p}",
                    response=response,
                    timestamp=T0 + timedelta(minutes=10 * p + m),
                    model=model,
                )
            )
            ids.append(iid)
        prompts.append(ids)
    batches: list[list[Feedback]] = [[] for _ in range(4)]
    written: list[Feedback] = []
    n = 0

    def add(fb: Feedback, batch: int) -> None:
        batches[batch].append(fb)
        written.append(fb)

    def new(
        ftype: FeedbackType,
        iid: str,
        data: dict[str, Any],
        user: str | None,
        minute: int,
        **kw: Any,
    ) -> Feedback:
        nonlocal n
        n += 1
        return Feedback(id=f"s{seed}-f{n}", interaction_id=iid, type=ftype, data=data,
                        timestamp=T0 + timedelta(hours=1, minutes=minute), user_id=user,
                        target_ids=kw.pop("targets", (iid,)), **kw)  # fmt: skip

    for minute in range(420):
        ids = rnd.choice(prompts)
        iid = rnd.choice(ids)
        user = rnd.choice(RATERS)
        kind = rnd.random()
        batch = rnd.randrange(3)
        if kind < 0.3:
            fb = new(FeedbackType.BINARY, iid, {"value": rnd.choice(["thumbs_up", "thumbs_down"])},
                     user, minute)  # fmt: skip
        elif kind < 0.6:
            lo, hi = rnd.choice([(1, 5), (0, 10)])
            fb = new(FeedbackType.RATING, iid, {"rating": rnd.randint(lo, hi), "min_rating": lo,
                     "max_rating": hi, "comment": None}, user, minute)  # fmt: skip
        elif kind < 0.72:
            comment = rnd.choice([None, "too slow", "wrong answer", "great", ""])
            sentiment = rnd.choice([None, "positive", "negative", "neutral"])
            correction = rnd.choice([None, None, f"better {minute}"])
            if comment is None and correction is None:
                correction = f"fixed {minute}"
            fb = new(FeedbackType.TEXT, iid, {"comment": comment, "sentiment": sentiment,
                     "correction": correction}, user, minute, source="review")  # fmt: skip
        elif kind < 0.84:
            dims = {"accuracy": float(rnd.randint(1, 5)), "style": float(rnd.randint(1, 5))}
            weights = rnd.choice([None, {"accuracy": 2.0, "style": 1.0}])
            fb = new(FeedbackType.MULTI_DIMENSIONAL, iid, {"dimensions": dims,
                     "weights": weights, "overall_comment": None}, user, minute)  # fmt: skip
        else:
            pref = rnd.choice(ids)
            others = [x for x in ids if x != pref][: rnd.randint(1, 2)]
            conf = rnd.choice([None, 0.6, 0.9])
            fb = new(FeedbackType.COMPARATIVE, pref, {"preferred_response_id": pref,
                     "compared_response_ids": others, "reason": None, "confidence_level": conf},
                     user, minute, targets=(pref, *others))  # fmt: skip
        add(fb, batch)
        roll = rnd.random()
        if roll < 0.08:  # a retried write: the same id again, later (sometimes another payload)
            again = fb if rnd.random() < 0.5 else _with(fb, data={**fb.data, "retry": True})
            add(again, 3)
        elif roll < 0.16 and fb.type is not FeedbackType.COMPARATIVE:
            # a changed vote names the version it replaces
            changed = new(fb.type, fb.interaction_id, dict(fb.data), fb.user_id, minute + 1,
                          supersedes=fb.id, source=fb.source)  # fmt: skip
            add(changed, batch)
        elif roll < 0.22 and fb.user_id is not None and fb.type is not FeedbackType.COMPARATIVE:
            # the same rater votes again with a fresh id and no supersedes
            again = new(fb.type, fb.interaction_id, dict(fb.data), fb.user_id,
                        minute + rnd.choice([0, 2]), source=fb.source)  # fmt: skip
            add(again, batch)
    return its, batches


def _with(fb: Feedback, **changes: Any) -> Feedback:
    from dataclasses import replace

    return replace(fb, **changes)


# ---------------------------------------------------------------- the reference
def _frame(batches: list[list[Feedback]]) -> pd.DataFrame:
    rows = []
    for fb in (f for b in batches for f in b):  # the order the store received them
        rows.append(
            {
                "id": fb.id,
                "iid": fb.interaction_id,
                "type": fb.type.value,
                "user": fb.user_id,
                "ts": fb.timestamp,
                "sup": fb.supersedes,
                "targets": tuple(fb.target_ids) or (fb.interaction_id,),
                "data": fb.data,
            }
        )
    df = pd.DataFrame(rows)
    df["seq"] = range(len(df))
    return df


def _counted(df: pd.DataFrame, start: datetime | None = None, end: datetime = END) -> pd.DataFrame:
    """Rule 1 over the whole store, then rules 2 and 3 among the records in the range."""
    df = df.drop_duplicates("id", keep="first")
    df = df[(df.ts <= end) & ((df.ts >= start) if start is not None else True)]
    named = set(df.loc[df.sup.notna() & (df.sup != df.id), "sup"])
    df = df[~df.id.isin(named)].copy()
    votes = (df.type != "text") & df.user.notna()
    df["key"] = [
        (tuple(sorted({i, *t})), ty, u) if v else ("alone", s)
        for i, t, ty, u, v, s in zip(df.iid, df.targets, df.type, df.user, votes, df.seq,
                                     strict=True)
    ]  # fmt: skip
    latest = df.sort_values(["ts", "seq"]).groupby("key", sort=False).tail(1)
    return df[df.seq.isin(set(latest.seq))].sort_values("seq")


def _norm(d: dict[str, Any]) -> float:
    lo, hi = float(d.get("min_rating", 1)), float(d["max_rating"])
    return (float(d["rating"]) - lo) / (hi - lo) if hi > lo else 1.0


def _wscore(d: dict[str, Any]) -> float:
    dims, ws = d["dimensions"], d.get("weights") or {}
    w = {k: float(ws.get(k, 1.0)) if ws else 1.0 for k in dims}
    return math.fsum(w[k] * v for k, v in dims.items()) / math.fsum(w.values())


def _stats(df: pd.DataFrame, its: list[Interaction], start: datetime | None) -> dict[str, Any]:
    in_range = {i.id for i in its if i.timestamp <= END and (start is None or i.timestamp >= start)}
    targeted = {t for i, ts in zip(df.iid, df.targets, strict=True) for t in (i, *ts)}
    out: dict[str, Any] = {
        "total_interactions": len(in_range),
        "interactions_with_feedback": len(in_range & targeted),
        "total_feedback": len(df),
        "by_type": df.type.value_counts().to_dict(),
    }
    b = df[df.type == "binary"]
    up = sum(d["value"] == "thumbs_up" for d in b.data)
    out["binary"] = (up, len(b) - up) if len(b) else None
    r = df[df.type == "rating"]
    if len(r):
        vals = pd.Series([float(d["rating"]) for d in r.data])
        norms = pd.Series([_norm(d) for d in r.data])
        out["rating"] = (len(r), math.fsum(vals) / len(vals), float(vals.median()),
                         math.fsum(norms) / len(norms), float(norms.median()),
                         {float(k): int(v) for k, v in vals.value_counts().items()})  # fmt: skip
    t = df[df.type == "text"]
    if len(t):
        comments = [d["comment"] for d in t.data if d.get("comment") is not None]
        sentiments = {"positive": 0, "negative": 0, "neutral": 0, "unspecified": 0}
        for d in t.data:
            sentiments[d.get("sentiment") or "unspecified"] += 1
        avg = math.fsum(len(c) for c in comments) / len(comments) if comments else 0.0
        out["text"] = (len(t), avg, sentiments)
    m = df[df.type == "multi_dimensional"]
    if len(m):
        per: dict[str, list[float]] = {}
        for d in m.data:
            for k, v in d["dimensions"].items():
                per.setdefault(k, []).append(v)
        scores = [_wscore(d) for d in m.data]
        out["multi"] = (len(m), {k: math.fsum(v) / len(v) for k, v in per.items()},
                        math.fsum(scores) / len(scores))  # fmt: skip
    c = df[df.type == "comparative"]
    if len(c):
        confs = [d["confidence_level"] for d in c.data if d.get("confidence_level") is not None]
        out["comparative"] = (len(c), math.fsum(confs) / len(confs) if confs else None)
    return out


def _got(s: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "total_interactions": s.total_interactions,
        "interactions_with_feedback": s.interactions_with_feedback,
        "total_feedback": s.total_feedback,
        "by_type": dict(s.by_type),
        "binary": (s.binary.thumbs_up, s.binary.thumbs_down) if s.binary else None,
    }
    if s.rating:
        r = s.rating
        out["rating"] = (r.count, r.average, r.median, r.average_normalized,
                         r.median_normalized, {k: v for k, v in r.distribution.items() if v})  # fmt: skip
    if s.text:
        out["text"] = (s.text.count, s.text.average_length, dict(s.text.sentiment_distribution))
    if s.multi_dimensional:
        md = s.multi_dimensional
        out["multi"] = (md.count, dict(md.dimension_averages), md.average_weighted_score)
    if s.comparative:
        out["comparative"] = (s.comparative.count, s.comparative.average_confidence)
    return out


def _training(df: pd.DataFrame, its: list[Interaction]) -> dict[str, list[tuple[Any, ...]]]:
    """DPO/reward pairs, KTO and SFT rows from the documented rules."""
    by_id = {i.id: i for i in its}
    score: dict[str, dict[str, list[float]]] = {}
    for ftype, iid, d in zip(df.type, df.iid, df.data, strict=True):
        s = score.setdefault(iid, {"rating": [], "multi_dimensional": [], "binary": []})
        if ftype == "rating":
            s["rating"].append(_norm(d))
        elif ftype == "binary":
            s["binary"].append(1.0 if d["value"] == "thumbs_up" else 0.0)
        elif ftype == "multi_dimensional":
            s["multi_dimensional"].append(_wscore(d))
    fixes = {
        iid: d["correction"]
        for iid, ftype, d in zip(df.iid, df.type, df.data, strict=True)
        if ftype == "text" and d.get("correction") is not None
    }  # later rows win
    pairs: list[tuple[str, str, str, float]] = []
    made: set[frozenset[str]] = set()

    def pair(win: str, lose: str, margin: float) -> None:
        a, b = by_id[win], by_id[lose]
        key = frozenset((win, lose))
        if a.prompt != b.prompt or a.response == b.response or key in made:
            return
        made.add(key)
        pairs.append((a.prompt, a.response, b.response, margin))

    for ftype, d in zip(df.type, df.data, strict=True):
        if ftype == "comparative":
            for other in d["compared_response_ids"]:
                conf = d.get("confidence_level")
                pair(d["preferred_response_id"], other, 1.0 if conf is None else conf)
    for iid, fix in fixes.items():
        if fix != by_id[iid].response:
            pairs.append((by_id[iid].prompt, fix, by_id[iid].response, 1.0))
    for i, a in enumerate(its):
        for b in its[i + 1 :]:
            if a.prompt != b.prompt:
                continue
            sa, sb = score.get(a.id), score.get(b.id)
            for kind in ("rating", "multi_dimensional", "binary"):
                if sa and sb and sa[kind] and sb[kind]:
                    gap = math.fsum(sa[kind]) / len(sa[kind]) - math.fsum(sb[kind]) / len(sb[kind])
                    if gap > 0:
                        pair(a.id, b.id, gap)
                    elif gap < 0:
                        pair(b.id, a.id, -gap)
                    break
    kto, sft = [], []
    for it in its:
        own = score.get(it.id)
        sat_values = (own["rating"] + own["binary"]) if own else []
        sat = math.fsum(sat_values) / len(sat_values) if sat_values else None
        if sat is not None and (sat >= 0.75 or sat <= 0.25):
            kto.append((it.prompt, it.response, sat >= 0.75))
        if it.id in fixes:
            sft.append((it.prompt, fixes[it.id]))
        elif sat is not None and sat >= 0.75:
            sft.append((it.prompt, it.response))
    return {
        "dpo": sorted((p, c, r) for p, c, r, _ in pairs),
        "reward": sorted((p, c, r, round(m, 9)) for p, c, r, m in pairs),
        "kto": sorted(kto),
        "sft": sorted(sft),
    }


def _exported(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for fmt in ("dpo", "reward", "kto", "sft"):
        buf = io.StringIO()
        export_feedback(store, fmt, out=buf)
        rows = [json.loads(x) for x in buf.getvalue().splitlines()]
        if fmt == "dpo":
            out[fmt] = sorted((r["prompt"], r["chosen"], r["rejected"]) for r in rows)
        elif fmt == "reward":
            out[fmt] = sorted((r["prompt"], r["chosen"], r["rejected"], round(r["margin"], 9))
                              for r in rows)  # fmt: skip
        elif fmt == "kto":
            out[fmt] = sorted((r["prompt"], r["completion"], r["label"]) for r in rows)
        else:
            out[fmt] = sorted((r["messages"][0]["content"], r["messages"][1]["content"])
                              for r in rows)  # fmt: skip
    return out


def _sql(store: Store, query: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    if isinstance(store, JsonlStore):  # the command as a user runs it, on the directory
        assert main(["sql", "--json", "--data-dir", store.data_dir, query]) == 0
    else:
        parser = OneLineErrorParser(prog="rlhf-otel")
        register(parser.add_subparsers(dest="command", required=True), store_opener=lambda a: store)
        args: argparse.Namespace = parser.parse_args(["sql", "--json", query])
        assert args.func(args) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


# ---------------------------------------------------------------- the comparison
class _Tally:
    def __init__(self) -> None:
        self.checks = 0
        self.mismatches: list[tuple[str, Any, Any]] = []

    def same(self, what: str, expected: Any, got: Any) -> None:
        self.checks += 1
        if not _close(expected, got):
            self.mismatches.append((what, expected, got))


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.fixture(params=["memory", "jsonl"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _store(kind: str, path: Path) -> Iterator[Store]:
    store: Store = MemoryStore(max_entries=None) if kind == "memory" else JsonlStore(path)
    try:
        yield store
    finally:
        store.close()


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_every_reader_equals_the_pandas_reference(
    kind: str, seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stats, analytics, exports and sql equal the reference: 0 mismatches."""
    its, batches = _data(seed)
    df = _frame(batches)
    assert df.id.duplicated().sum() > 5
    assert df.sup.notna().sum() > 5
    for store in _store(kind, tmp_path):
        store.write(its, [])
        for batch in batches:
            store.write([], batch)
        tally = _Tally()
        start = T0 + timedelta(hours=3)
        for label, lo in (("all", None), ("range", start)):
            expected = _stats(_counted(df, lo), its, lo)
            got_stats = _got(feedback_stats(store, lo, END))
            got_analytics = _got(
                get_analytics(store, FeedbackFilter(start_time=lo, end_time=END)).stats
            )
            for field, value in expected.items():
                tally.same(f"{label} stats {field}", value, got_stats.get(field))
                tally.same(f"{label} analytics {field}", value, got_analytics.get(field))
        counted = _counted(df)
        buf = io.StringIO()
        export_feedback(store, "jsonl", out=buf, include_interactions=False)
        ids = sorted(json.loads(x)["id"] for x in buf.getvalue().splitlines())
        tally.same("records export ids", sorted(counted.id), ids)
        expected_rows = _training(counted, its)
        got_rows = _exported(store)
        for fmt, rows in expected_rows.items():
            tally.same(f"{fmt} row count", len(rows), len(got_rows[fmt]))
            tally.same(f"{fmt} rows", rows, got_rows[fmt])
        by_type = _sql(
            store, "SELECT type, count(*) AS n FROM feedback GROUP BY 1 ORDER BY 1", capsys
        )
        tally.same("sql by type", counted.type.value_counts().sort_index().to_dict(),
                   {r["type"]: r["n"] for r in by_type})  # fmt: skip
        sql_ids = _sql(store, "SELECT id FROM feedback ORDER BY id", capsys)
        tally.same("sql ids", sorted(counted.id), [r["id"] for r in sql_ids])
        versions = _sql(store, "SELECT count(*) AS n FROM feedback_versions", capsys)
        tally.same("sql versions", int(df.id.nunique()), versions[0]["n"])
        assert tally.mismatches == []
        assert tally.checks == 48
