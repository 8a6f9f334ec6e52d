"""The ``stats``, ``export``, ``query`` and ``report`` commands of the ``rlhf-otel`` CLI.

``register(subparsers)`` adds them to an argparse parser; each sets ``handler`` (and
``func``) to a callable
taking the parsed namespace and returning the exit code (0 done, 1 failed, 2 bad arguments
or unreadable store, with a one-line message on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final, NoReturn

from rlhf_otel import _env
from rlhf_otel._errors import RLHFError, StoreError, ValidationError
from rlhf_otel.analytics import get_analytics
from rlhf_otel.export import ExportOptions, TrainingOptions, export_feedback
from rlhf_otel.recording import dumps
from rlhf_otel.records import (
    ExportFormat,
    FeedbackFilter,
    FeedbackStats,
    FeedbackType,
    InteractionFilter,
    compute_stats,
    feedback_to_dict,
    format_timestamp,
    interaction_to_dict,
    parse_timestamp,
    utc_now,
)
from rlhf_otel.report import write_report
from rlhf_otel.stores import Store

__all__ = ["CLIError", "OneLineErrorParser", "open_store", "register"]

DEFAULT_DATA_DIR: Final = "./rlhf-data"
DATA_DIR_ENV: Final = _env.DATA_DIR
_RELATIVE: Final = re.compile(r"(\d+)\s*([mhdw])")
_UNITS: Final = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

StoreOpener = Callable[[argparse.Namespace], Store]


class CLIError(RLHFError):
    """A command cannot run; the message is shown as one line and the exit code is 2."""


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``prog: error: ...``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def open_store(args: argparse.Namespace) -> Store:
    """The store named by ``--data-dir``: the embedded JSONL store in that directory."""
    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        raise CLIError(f"cannot read store: {data_dir} is not a directory (set --data-dir)")
    try:
        module = importlib.import_module("rlhf_otel.stores.jsonl._store")
    except ImportError as exc:
        raise CLIError("cannot read store: this build has no JSONL store") from exc
    jsonl_store: Callable[[Path], Store] = module.JsonlStore
    return jsonl_store(data_dir)


def _time(value: str) -> datetime:
    m = _RELATIVE.fullmatch(value.strip())
    if m:
        return utc_now() - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        return parse_timestamp(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a time: use ISO-8601 (2026-01-31, 2026-01-31T12:00:00Z) "
            "or a relative span like 30m, 24h, 7d, 2w"
        ) from None


def _feedback_type(value: str) -> FeedbackType:
    try:
        return FeedbackType(value)
    except ValueError:
        allowed = ", ".join(t.value for t in FeedbackType)
        raise argparse.ArgumentTypeError(f"{value!r} is not a feedback type ({allowed})") from None


def _non_negative(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 0")
    return n


def _common(p: argparse.ArgumentParser, *, time: bool = True) -> None:
    p.add_argument(
        "--data-dir",
        default=os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR),
        help=f"store directory (default ${DATA_DIR_ENV} or {DEFAULT_DATA_DIR})",
    )
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")
    if time:
        p.add_argument("--since", type=_time, help="from this time (ISO-8601 or 7d, 24h, ...)")
        p.add_argument("--until", type=_time, help="up to this time (default now)")
    p.add_argument("--user", help="only this user")
    p.add_argument("--session", help="only this session")


def _progress_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None)
    g.add_argument("--no-progress", dest="progress", action="store_false")


def register(subparsers: Any, *, store_opener: StoreOpener = open_store) -> None:
    """Add ``stats``, ``export``, ``query`` and ``report`` to an argparse subparsers object."""
    p = subparsers.add_parser("stats", help="feedback statistics")
    _common(p)
    p.add_argument("--type", dest="types", action="append", type=_feedback_type)
    p.add_argument("--source", help="only feedback from this source")
    p.add_argument("--full", action="store_true", help="add breakdowns, rankings, agreement")
    _set_handler(p, _wrap(_cmd_stats, store_opener))

    p = subparsers.add_parser("export", help="export records or a training set")
    _common(p)
    p.add_argument(
        "--format", required=True, choices=[f.value for f in ExportFormat], metavar="FORMAT",
        help="json, jsonl, csv, parquet, parquet-lake (--out DIR), or dpo, kto, reward, sft",
    )  # fmt: skip
    p.add_argument("--out", required=True, help="output file ('-' for standard output)")
    p.add_argument("--type", dest="types", action="append", type=_feedback_type)
    p.add_argument("--limit", type=_non_negative)
    p.add_argument("--no-interactions", action="store_true")
    p.add_argument("--no-feedback", action="store_true")
    p.add_argument("--no-metadata", action="store_true")
    p.add_argument("--compact", action="store_true", help="JSON on one line")
    p.add_argument("--container", choices=["jsonl", "parquet"])
    p.add_argument("--conversational", choices=["auto", "always", "never"], default="auto")
    p.add_argument("--positive-threshold", type=float, default=0.75)
    p.add_argument("--negative-threshold", type=float, default=0.25)
    _progress_flags(p)
    _set_handler(p, _wrap(_cmd_export, store_opener))

    p = subparsers.add_parser("query", help="list feedback or interactions")
    _common(p)
    p.add_argument("--kind", choices=["feedback", "interactions"], default="feedback")
    p.add_argument("--type", dest="types", action="append", type=_feedback_type)
    p.add_argument("--source")
    p.add_argument("--model", help="interactions of this model")
    p.add_argument("--interaction", dest="interaction_ids", action="append")
    p.add_argument("--min-rating", type=float)
    p.add_argument("--max-rating", type=float)
    p.add_argument("--limit", type=_non_negative, default=20)
    p.add_argument("--offset", type=_non_negative, default=0)
    _set_handler(p, _wrap(_cmd_query, store_opener))

    p = subparsers.add_parser("report", help="write a self-contained HTML report")
    _common(p)
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--interval", choices=["hour", "day", "week", "month"], default="day")
    p.add_argument("--type", dest="types", action="append", type=_feedback_type)
    p.add_argument("--source")
    p.add_argument("--title", default="rlhf-otel feedback report")
    _progress_flags(p)
    _set_handler(p, _wrap(_cmd_report, store_opener))
    from rlhf_otel.cli._sql import register_sql  # here: _sql imports this module

    register_sql(subparsers, store_opener=store_opener)


def _set_handler(p: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int]) -> None:
    # ``handler`` is what the main entry point dispatches on; ``func`` is the argparse idiom.
    p.set_defaults(handler=run, func=run)


def _wrap(
    cmd: Callable[[argparse.Namespace, Store], int], store_opener: StoreOpener
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        if args.since and args.until and args.since > args.until:
            return _fail("--since is after --until")
        try:
            store = store_opener(args)
        except CLIError as exc:
            return _fail(str(exc))
        except (OSError, StoreError, ValueError) as exc:
            return _fail(f"cannot read store at {args.data_dir}: {exc}")
        try:
            return cmd(args, store)
        except (CLIError, ValidationError, ImportError) as exc:
            return _fail(str(exc))
        except (OSError, StoreError) as exc:
            return _fail(str(exc), code=1)
        finally:
            store.close()

    return run


def _fail(message: str, code: int = 2) -> int:
    sys.stderr.write(f"rlhf-otel: error: {message.splitlines()[0] if message else 'failed'}\n")
    return code


class _Progress:
    """``label: N records`` on stderr, rewritten in place."""

    def __init__(self, label: str, enabled: bool | None) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.shown = False

    def __call__(self, n: int) -> None:
        if self.enabled:
            sys.stderr.write(f"\r{self.label}: {n:,} records read")
            sys.stderr.flush()
            self.shown = True

    def done(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(("\r" if self.shown else "") + f"{self.label}: {text}\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


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


def _stats_rows(s: FeedbackStats) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = [
        ("interactions", s.total_interactions),
        ("feedback", s.total_feedback),
        ("interactions with feedback", f"{s.interactions_with_feedback} ({s.feedback_rate:.1%})"),
    ]
    rows += [(f"  {t}", n) for t, n in sorted(s.by_type.items())]
    if s.binary:
        b = s.binary
        rows.append(("thumbs up / down", f"{b.thumbs_up} / {b.thumbs_down} ({b.ratio:.1%} up)"))
    if s.rating:
        r = s.rating
        rows.append(("ratings", f"{r.count}, average {r.average:.2f}, median {r.median:g}"))
        dist = ", ".join(f"{k:g}: {v}" for k, v in r.distribution.items())
        rows.append(("  distribution", dist))
    if s.text:
        rows.append(("text", f"{s.text.count}, average length {s.text.average_length:.1f}"))
    if s.multi_dimensional:
        avgs = ", ".join(f"{k} {v:.2f}" for k, v in s.multi_dimensional.dimension_averages.items())
        rows.append(("dimensions", avgs))
    if s.comparative:
        conf = s.comparative.average_confidence
        rows.append(("comparisons", f"{s.comparative.count}, confidence {_fmt(conf, '.2f')}"))
    return rows


def _cmd_stats(args: argparse.Namespace, store: Store) -> int:
    narrow = args.types or args.user or args.session or args.source
    if args.full or narrow:
        result = get_analytics(store, _filter(args))
        stats = result.stats
    else:
        result = None
        stats = compute_stats(store, args.since, args.until)
    if args.json:
        print(json.dumps(result.to_dict() if result and args.full else stats.to_dict(), indent=2))
        return 0
    print(table(["statistic", "value"], _stats_rows(stats)))
    if result is not None and args.full:
        models = result.breakdowns["model"]
        print("\nBy model")
        print(table(
            ["model", "interactions", "feedback", "thumbs up", "avg rating", "satisfaction"],
            [(g.key, g.interactions, g.feedback, _fmt(g.thumbs_ratio, ".1%"),
              _fmt(g.rating_average, ".2f"), _fmt(g.satisfaction, ".1%")) for g in models],
        ))  # fmt: skip
        if result.rankings.models:
            print("\nModel ranking (Bradley-Terry, 95% interval)")
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


def _cmd_export(args: argparse.Namespace, store: Store) -> int:
    fmt = ExportFormat(args.format)
    training = TrainingOptions(
        conversational=args.conversational,
        positive_threshold=args.positive_threshold,
        negative_threshold=args.negative_threshold,
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
    )
    progress = _Progress(f"export {fmt.value}", args.progress)
    out: str | IO[bytes] = sys.stdout.buffer if args.out == "-" else args.out
    report = export_feedback(store, fmt, out=out, options=opts, progress=progress)
    if args.out != "-":
        report.path = args.out
    progress.done(f"{report.rows:,} rows written")
    summary = report.to_dict()
    dest = sys.stderr if args.out == "-" else sys.stdout
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


def _summary(fb_data: dict[str, Any]) -> str:
    d = fb_data["data"]
    t = fb_data["type"]
    if t == "binary":
        return str(d.get("value"))
    if t == "rating":
        return f"{d.get('rating')}/{d.get('max_rating')}" + (
            f" {d['comment']}" if d.get("comment") else ""
        )
    if t == "text":
        return f"[{d.get('sentiment') or '-'}] {d.get('comment')}"
    if t == "multi_dimensional":
        return ", ".join(f"{k} {v}" for k, v in (d.get("dimensions") or {}).items())
    return f"{d.get('preferred_response_id')} > {', '.join(d.get('compared_response_ids') or ())}"


def _clip(text: str | None, n: int = 48) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


def _cmd_query(args: argparse.Namespace, store: Store) -> int:
    if args.kind == "interactions":
        flt = InteractionFilter(
            start_time=args.since, end_time=args.until, user_id=args.user,
            session_id=args.session, model=args.model, ids=args.interaction_ids,
            limit=args.limit, offset=args.offset,
        )  # fmt: skip
        its = [interaction_to_dict(it) for it in store.scan_interactions(flt)]
        if args.json:
            sys.stdout.writelines(dumps(d) + "\n" for d in its)
            return 0
        print(table(
            ["id", "time", "model", "user", "latency ms", "prompt", "response"],
            [(d["id"], d["timestamp"][:19], d["model"], d["user_id"], _fmt(d["latency_ms"], ".0f"),
              _clip(d["prompt"], 32), _clip(d["response"], 32)) for d in its],
        ))  # fmt: skip
        return 0
    fbs = [feedback_to_dict(fb) for fb in store.scan_feedback(_filter(args))]
    if args.json:
        sys.stdout.writelines(dumps(d) + "\n" for d in fbs)
        return 0
    print(table(
        ["id", "time", "type", "interaction", "user", "source", "value"],
        [(d["id"], d["timestamp"][:19], d["type"], d["interaction_id"], d["user_id"],
          d["source"], _clip(_summary(d))) for d in fbs],
    ))  # fmt: skip
    return 0


def _cmd_report(args: argparse.Namespace, store: Store) -> int:
    out = Path(args.out)
    if not out.parent.is_dir():
        raise CLIError(f"cannot write {out}: directory {out.parent} does not exist")
    progress = _Progress("report", args.progress)
    flt = _filter(args)
    result = get_analytics(store, flt, interval=args.interval, progress=progress)
    write_report(result, out, title=args.title)
    progress.done(f"written to {out}")
    if args.json:
        print(json.dumps({"path": str(out), "generated_at": format_timestamp(result.generated_at)}))
    else:
        print(f"report written to {out}")
    return 0
