"""Run every benchmark: ``python benchmarks/run.py [--quick] [--only NAME ...]``.

Each ``bench_*.py`` module here has ``main(quick: bool) -> None`` and prints its figures with
ratios against a baseline measured in the same run. ``--quick`` uses small sizes (a smoke
run for CI); without it the sizes the issues ask for are used.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--only", nargs="*", default=None, help="e.g. core jsonl export")
    args = parser.parse_args()
    sys.path[:0] = [str(HERE.parent), str(HERE)]
    names = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"unknown benchmark(s) {unknown}; have {names}")
        names = [n for n in names if n in args.only]
    for name in names:
        print(f"\n=== {name} {'(quick)' if args.quick else ''}", flush=True)
        started = time.perf_counter()
        importlib.import_module(f"bench_{name}").main(quick=args.quick)
        print(f"--- {name} took {time.perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
