"""What ``stats``, ``export``, ``query`` and ``report`` do once their arguments are parsed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from typing import IO, Any

from rlhf_otel.analytics import get_analytics, store_stats
from rlhf_otel.cli._output import Progress, table
from rlhf_otel.export import ExportOptions, TrainingOptions, export_feedback
from rlhf_otel.judges import judge_agreement
from rlhf_otel.recording import dumps
from rlhf_otel.records import (
    ExportFormat,
    FeedbackFilter,
    FeedbackStats,
    InteractionFilter,
    data_class,
    feedback_to_dict,
    format_timestamp,
    interaction_to_dict,
)
from rlhf_otel.report import (
    RatingScale,
    clear_winner,
    combined_normalized,
    rating_scales,
    write_report,
)
from rlhf_otel.review import review_summary
from rlhf_otel.stores import Store

__all__ = ["cmd_export", "cmd_query", "cmd_report", "cmd_stats"]


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "" if v is None else format(v, spec)


def _filter(args: argparse.Namespace) -> FeedbackFilter:
    return FeedbackFilter(
        start_time=args.since,
        end_time=args.until,
        types=args.types,
        user_id=args.user,
        session_id=args.session,
        source=getattr(args, "source", None),
        interaction_ids=getattr(args, "interaction_ids", None),
        min_rating=getattr(args, "min_rating", None),
        max_rating=getattr(args, "max_rating", None),
        limit=getattr(args, "limit", None),
        offset=getattr(args, "offset", 0),
    )


def _rating_rows(scales: list[RatingScale]) -> list[tuple[str, object]]:
    """Ratings per scale; different scales are only combined normalised to 0-1."""
    rows: list[tuple[str, object]] = []
    for sc in scales:
        rows.append(
            (
                f"ratings ({sc.label} scale)",
                f"{sc.count}, average {sc.average:.2f}, median {sc.median:g}",
            )
        )
        dist = ", ".join(f"{k:g}: {v}" for k, v in sc.distribution.items())
        rows.append(("  distribution", dist))
    combined = combined_normalized(scales)
    if len(scales) > 1 and combined is not None:
        rows.append(("ratings, all scales", f"average {combined:.2f} (normalised 0-1)"))
    return rows


def _stats_rows(
    s: FeedbackStats, scales: list[RatingScale] | None = None
) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = [
        ("interactions", s.total_interactions),
        ("feedback", s.total_feedback),
        ("interactions with feedback", f"{s.interactions_with_feedback} ({s.feedback_rate:.1%})"),
    ]
    rows += [(f"  {t}", n) for t, n in sorted(s.by_type.items())]
    if s.binary:
        b = s.binary
        rows.append(("thumbs up / down", f"{b.thumbs_up} / {b.thumbs_down} ({b.ratio:.1%} up)"))
    if s.rating and scales:
        rows += _rating_rows(scales)
    elif s.rating:
        r = s.rating
        rows.append(("ratings", f"{r.count}, average {r.average_normalized:.2f} (normalised 0-1)"))
    if s.text:
        rows.append(("text", f"{s.text.count}, average length {s.text.average_length:.1f}"))
    if s.multi_dimensional:
        avgs = ", ".join(f"{k} {v:.2f}" for k, v in s.multi_dimensional.dimension_averages.items())
        rows.append(("dimensions", avgs))
    if s.comparative:
        conf = s.comparative.average_confidence
        rows.append(("comparisons", f"{s.comparative.count}, confidence {_fmt(conf, '.2f')}"))
    return rows


def cmd_stats(args: argparse.Namespace, store: Store) -> int:
    narrow = args.types or args.user or args.session or args.source
    if args.full or narrow:
        progress = Progress("stats", args.progress)
        result = get_analytics(store, _filter(args), progress=progress)
        progress.done("done")
        stats = result.stats
    else:
        result = None
        stats = store_stats(store, args.since, args.until)
    scales = rating_scales(store, _filter(args)) if stats.rating else []
    if args.json:
        out = result.to_dict() if result and args.full else stats.to_dict()
        out["rating_scales"] = [sc.to_dict() for sc in scales]
        out["review"] = review_summary(store)  # per queue: progress and agreement
        out["judges"] = [
            a.to_dict() for a in judge_agreement(store, resamples=200)
        ]  # judge-vs-people agreement per rubric item
        print(json.dumps(out, indent=2))
        return 0
    print(table(["statistic", "value"], _stats_rows(stats, scales)))
    if result is not None and args.full:
        models = result.breakdowns["model"]
        print("\nBy model")
        print(table(
            ["model", "interactions", "feedback", "thumbs up", "rating (0-1)", "satisfaction"],
            [(g.key, g.interactions, g.feedback, _fmt(g.thumbs_ratio, ".1%"),
              _fmt(g.rating_average_normalized, ".2f"), _fmt(g.satisfaction, ".1%"))
             for g in models],
        ))  # fmt: skip
        if result.rankings.models:
            best = clear_winner(result.rankings.models)
            verdict = f"best model: {best}" if best else "no clear winner (intervals overlap)"
            print(f"\nModel ranking (Bradley-Terry, 95% interval): {verdict}")
            print(table(
                ["rank", "model", "score", "interval", "win rate", "comparisons"],
                [(m.rank, m.model, f"{m.score:.0f}", f"{m.ci_low:.0f}..{m.ci_high:.0f}",
                  f"{m.win_rate:.1%}", m.comparisons) for m in result.rankings.models],
            ))  # fmt: skip
        if result.agreement:
            print("\nInter-annotator agreement")
            print(table(
                ["kind", "items", "raters", "alpha", "fleiss", "cohen"],
                [(a.kind, a.items, a.raters, _fmt(a.krippendorff_alpha),
                  _fmt(a.fleiss_kappa), _fmt(a.cohen_kappa)) for a in result.agreement],
            ))  # fmt: skip
    return 0


def cmd_export(args: argparse.Namespace, store: Store) -> int:
    fmt = ExportFormat(args.format)
    training = TrainingOptions(
        conversational=args.conversational,
        positive_threshold=args.positive_threshold,
        negative_threshold=args.negative_threshold,
        max_pairs_per_prompt=args.max_pairs_per_prompt,
    )
    opts = ExportOptions(
        start_time=args.since,
        end_time=args.until,
        include_interactions=not args.no_interactions,
        include_feedback=not args.no_feedback,
        include_metadata=not args.no_metadata,
        feedback_types=args.types,
        user_id=args.user,
        session_id=args.session,
        limit=args.limit,
        pretty_print=(False if args.compact else None) if fmt is ExportFormat.JSON else None,
        container=args.container,
        training=training,
        evaluators=args.evaluators,
    )
    progress = Progress(f"export {fmt.value}", args.progress)
    out: str | IO[bytes] = sys.stdout.buffer if args.out == "-" else args.out
    report = export_feedback(store, fmt, out=out, options=opts, progress=progress)
    if args.out != "-":
        report.path = args.out
    progress.done(f"{report.rows:,} rows written")
    summary = report.to_dict()
    dest = sys.stderr if args.out == "-" or _is_stdout(args.out) else sys.stdout
    if args.json:
        dest.write(json.dumps(summary, indent=2) + "\n")
        return 0
    rows: list[tuple[str, object]] = [
        ("format", summary["format"]),
        ("written to", summary["path"] or "standard output"),
        ("rows", summary["rows"]),
        ("interactions read", summary["interactions"]),
        ("feedback read", summary["feedback"]),
    ]
    rows += [(f"used: {k}", v) for k, v in summary["used"].items()]
    rows += [(f"skipped: {k}", v) for k, v in summary["skipped"].items()]
    if summary["truncated"]:
        rows.append(("truncated", "yes (limit reached)"))
    dest.write(table(["export", "value"], rows) + "\n")
    return 0


def _is_stdout(out: str) -> bool:
    """Whether ``out`` names standard output, where the data goes (the summary does not)."""
    return os.path.abspath(out) in ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")


def _summary(fb_data: dict[str, Any]) -> str:
    return data_class(fb_data["type"]).summary(fb_data["data"])


def _clip(text: str | None, n: int = 48) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


def cmd_query(args: argparse.Namespace, store: Store) -> int:
    want = args.limit
    if args.kind == "interactions":
        flt = InteractionFilter(
            start_time=args.since, end_time=args.until, user_id=args.user,
            session_id=args.session, model=args.model, ids=args.interaction_ids,
            limit=want + 1, offset=args.offset,
        )  # fmt: skip
        its = [interaction_to_dict(it) for it in store.scan_interactions(flt)]
        more = len(its) > want
        its = its[:want]
        if args.json:
            sys.stdout.writelines(dumps(d) + "\n" for d in its)
        else:
            print(table(
                ["id", "time", "model", "user", "latency ms", "prompt", "response"],
                [(d["id"], d["timestamp"][:19], d["model"], d["user_id"],
                  _fmt(d["latency_ms"], ".0f"), _clip(d["prompt"], 32), _clip(d["response"], 32))
                 for d in its],
            ))  # fmt: skip
        _more_hint(args, len(its), more)
        return 0
    fbs = [feedback_to_dict(fb) for fb in _feedback_rows(args, store, want + 1)]
    more = len(fbs) > want
    fbs = fbs[:want]
    if args.json:
        sys.stdout.writelines(dumps(d) + "\n" for d in fbs)
    else:
        print(table(
            ["id", "time", "type", "interaction", "user", "source", "value"],
            [(d["id"], d["timestamp"][:19], d["type"], d["interaction_id"], d["user_id"],
              d["source"], _clip(_summary(d))) for d in fbs],
        ))  # fmt: skip
    _more_hint(args, len(fbs), more)
    return 0


def _feedback_rows(args: argparse.Namespace, store: Store, n: int) -> list[Any]:
    """Up to ``n`` feedback records after ``--offset``; ``--model`` keeps feedback whose
    interaction (any it targets) is of that model."""
    if args.model is None:
        return list(store.scan_feedback(replace(_filter(args), limit=n)))
    of_model = {
        it.id
        for it in store.scan_interactions(
            InteractionFilter(model=args.model, ids=args.interaction_ids)
        )
    }
    out: list[Any] = []
    skip = args.offset
    if not of_model or n == 0:
        return out
    for fb in store.scan_feedback(replace(_filter(args), limit=None, offset=0)):
        if fb.interaction_id in of_model or any(t in of_model for t in fb.target_ids):
            if skip:
                skip -= 1
                continue
            out.append(fb)
            if len(out) >= n:
                break
    return out


def _more_hint(args: argparse.Namespace, shown: int, more: bool) -> None:
    """Say on stderr (so piped output stays clean) that rows were left out, and how to see
    them."""
    if more:
        sys.stderr.write(
            f"rlhf-otel: showing rows {args.offset + 1}-{args.offset + shown}; more match: "
            f"--offset {args.offset + shown} for the next ones, or a larger --limit\n"
        )


def cmd_report(args: argparse.Namespace, store: Store) -> int:
    progress = Progress("report", args.progress)
    flt = _filter(args)
    result = get_analytics(store, flt, interval=args.interval, progress=progress)
    judges = judge_agreement(store, resamples=200)
    write_report(
        result,
        sys.stdout if args.out == "-" else args.out,
        title=args.title,
        rating_scales=rating_scales(store, flt),
        judges=judges,
    )
    where = "standard output" if args.out == "-" else args.out
    progress.done(f"written to {where}")
    if args.out == "-" or _is_stdout(args.out):
        return 0
    if args.json:
        print(json.dumps({"path": args.out, "generated_at": format_timestamp(result.generated_at)}))
    else:
        print(f"report written to {args.out}")
    return 0
