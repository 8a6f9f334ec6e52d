"""The ``rlhf-otel`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from rlhf_otel._errors import RLHFError
from rlhf_otel._logger import create_rlhf_logger
from rlhf_otel.cli._collect import register as register_collect
from rlhf_otel.cli._commands import OneLineErrorParser, register

__all__ = ["build_parser", "main"]


def _demo(args: argparse.Namespace) -> int:
    from rlhf_otel.cli._demo import format_stats, run_demo

    options: dict[str, Any] = {"backend": args.backend}
    if args.backend == "local":
        options["data_dir"] = args.data_dir
    with create_rlhf_logger(**options) as logger:
        stats = run_demo(logger, conversations=args.conversations, seed=args.seed)
        delivery = logger.delivery()
    if args.json:
        print(json.dumps({"stats": stats.to_dict(), "delivery": delivery}, indent=2))
    else:
        where = f" in {args.data_dir}" if args.backend == "local" else ""
        print(
            f"rlhf-otel demo: {args.conversations} simulated conversations, "
            f"{args.backend} store{where}\n"
        )
        print(format_stats(stats))
        print(f"\nstored {delivery['stored']} records, dropped {sum(delivery['dropped'].values())}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = OneLineErrorParser(
        prog="rlhf-otel", description="Human feedback on LLM answers, as OpenTelemetry spans."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="simulate a chat app with feedback and print the stats")
    demo.add_argument("--data-dir", default="./rlhf-data", help="local store (default ./rlhf-data)")
    demo.add_argument("--backend", choices=("local", "memory"), default="local")
    demo.add_argument("--conversations", type=int, default=40)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--json", action="store_true", help="machine-readable output")
    demo.set_defaults(handler=_demo)
    register(sub)
    register_collect(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad arguments or an unusable store)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except (RLHFError, OSError) as exc:
        print(f"rlhf-otel: error: {exc}", file=sys.stderr)
        return 2
    return code

