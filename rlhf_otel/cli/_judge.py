"""``rlhf-otel judge run SPEC`` and ``rlhf-otel judge report``: LLM judges on a local store."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from rlhf_otel._env import DATA_DIR
from rlhf_otel._errors import RLHFError, StoreError
from rlhf_otel.cli._output import Progress, table

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``judge run`` and ``judge report`` to an argparse subparsers object."""
    p = subparsers.add_parser("judge", help="LLM judges: run one, or report their agreement")
    sub = p.add_subparsers(dest="judge_command", required=True, metavar="ACTION")
    run = sub.add_parser("run", help="judge the interactions a judge spec samples")
    run.add_argument("spec", help="judge spec file (YAML or JSON; see docs/ai-feedback.md)")
    _data_dir(run)
    run.add_argument("--json", action="store_true", help="machine-readable summary")
    g = run.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="progress line on stderr (default: when stderr is a terminal)")  # fmt: skip
    g.add_argument("--no-progress", dest="progress", action="store_false")
    run.set_defaults(handler=_run)
    rep = sub.add_parser("report", help="agreement of judges with people, per rubric item")
    _data_dir(rep)
    rep.add_argument("--judge", help="only this judge (name or name@version)")
    rep.add_argument("--resamples", type=int, default=500,
                     help="bootstrap resamples for the intervals (default 500)")  # fmt: skip
    rep.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    rep.add_argument("--json", action="store_true", help="machine-readable output")
    rep.set_defaults(handler=_report)


def _data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        default=os.environ.get(DATA_DIR, "./rlhf-data"),
        help=f"store directory (default ${DATA_DIR} or ./rlhf-data)",
    )


def _fail(message: str, code: int = 2) -> int:
    sys.stderr.write(f"rlhf-otel: error: {message.splitlines()[0] if message else 'failed'}\n")
    return code


def _open(data_dir: str) -> Any:
    if not os.path.isdir(data_dir):
        raise StoreError(f"cannot read store: {data_dir} is not a directory (set --data-dir)")
    from rlhf_otel.stores import JsonlStore

    return JsonlStore(data_dir)


class _Line:
    """The progress line, rewritten at most a few times a second."""

    def __init__(self, label: str, enabled: bool | None) -> None:
        self.progress = Progress(label, enabled)
        self.last = 0.0

    def __call__(self, r: Any) -> None:
        now = time.monotonic()
        if now - self.last < 0.2 and r.done < r.sampled:
            return
        self.last = now
        self.progress.show(_status(r))


def _status(r: Any) -> str:
    skipped = sum(r.skipped.values())
    failed = sum(r.failed.values())
    return (
        f"{r.done:,}/{r.sampled:,} items: {r.judged:,} judged, {skipped:,} skipped, "
        f"{failed:,} failed, {r.requests:,} requests"
    )


def _run(args: argparse.Namespace) -> int:
    from rlhf_otel.judges import load_judge, run_judge

    try:
        spec = load_judge(args.spec)
        store = _open(args.data_dir)
    except (RLHFError, OSError) as exc:
        return _fail(str(exc))
    line = _Line(f"judge {spec.evaluator_id}", args.progress)
    try:
        result = run_judge(spec, store, progress=line)
    except ImportError as exc:
        return _fail(str(exc))
    except RLHFError as exc:
        return _fail(str(exc), code=2 if isinstance(exc, ValueError) else 1)
    finally:
        store.close()
    line.progress.done(_status(result))
    doc = result.to_dict()
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        rows: list[tuple[str, object]] = [
            ("judge", doc["judge"]),
            ("selected", doc["candidates"]),
            ("sampled", doc["sampled"]),
            ("judged", doc["judged"]),
        ]
        rows += [(f"skipped: {k}", v) for k, v in doc["skipped"].items()]
        rows += [(f"failed: {k}", v) for k, v in doc["failed"].items()]
        rows += [("verdicts stored", doc["stored"]), ("requests", doc["requests"])]
        rows += [(f"retried: {k}", v) for k, v in doc["retries"].items()]
        rows.append(("tokens in / out", f"{doc['input_tokens']:,} / {doc['output_tokens']:,}"))
        if doc["cost_usd"] is not None:
            rows.append(("cost (USD)", f"{doc['cost_usd']:.4f}"))
        if doc["pairs"]:
            rows.append(("inconsistent pairs (position bias)",
                         f"{doc['inconsistent_pairs']} of {doc['pairs']}"))  # fmt: skip
        print(table(["judge run", "value"], rows))
    return 1 if result.failed else 0


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "" if v is None else format(v, spec)


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"{ci[0]:.2f}..{ci[1]:.2f}"


def _report(args: argparse.Namespace) -> int:
    from rlhf_otel.judges import judge_agreement

    try:
        store = _open(args.data_dir)
    except (RLHFError, OSError) as exc:
        return _fail(str(exc))
    try:
        found = judge_agreement(
            store, judge=args.judge, resamples=max(0, args.resamples), seed=args.seed
        )
    finally:
        store.close()
    if args.json:
        print(json.dumps({"judges": [a.to_dict() for a in found]}, indent=2))
        return 0
    if not found:
        print("no judge verdicts in this store (run `rlhf-otel judge run SPEC` first)")
        return 0
    rows = []
    for a in found:
        h = a.human
        rows.append((
            a.judge, a.kind, a.items, _fmt(a.percent_agreement, ".1%"),
            _fmt(a.cohen_kappa), _ci(a.cohen_kappa_ci), _fmt(a.krippendorff_alpha),
            _ci(a.krippendorff_alpha_ci), _fmt(a.mean_difference, "+.3f"),
            _fmt(a.position_bias_rate, ".1%"),
            "" if h is None else _fmt(h.krippendorff_alpha),
        ))  # fmt: skip
    print(table(
        ["judge", "kind", "items", "agree", "kappa", "95% CI", "alpha", "95% CI",
         "bias", "position bias", "people alpha"],
        rows,
    ))  # fmt: skip
    for a in found:
        if a.confusion:
            print(f"\n{a.judge} {a.kind}: judge (rows) vs people (columns)")
            cols = sorted({c for v in a.confusion.values() for c in v})
            grid = [(j, *(v.get(c, 0) for c in cols)) for j, v in a.confusion.items()]
            print(table(["judge \\ people", *cols], grid))
    return 0
