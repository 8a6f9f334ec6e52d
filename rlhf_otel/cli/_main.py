"""The ``rlhf-otel`` command line."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from rlhf_otel._errors import RLHFError
from rlhf_otel._logger import create_rlhf_logger
from rlhf_otel.cli._collect import register as register_collect
from rlhf_otel.cli._commands import OneLineErrorParser, register
from rlhf_otel.cli._engine_flags import engine_scope
from rlhf_otel.cli._judge import register as register_judge
from rlhf_otel.cli._output import prepare_streams
from rlhf_otel.cli._review import register as register_review

__all__ = ["build_parser", "main"]

EXIT_INTERRUPTED = 130
"""Exit code after Ctrl-C (128 + SIGINT)."""
EXIT_TERMINATED = 143
"""Exit code after SIGTERM (128 + SIGTERM)."""


class _Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so ``finally`` blocks (temporary files) run."""


def _demo(args: argparse.Namespace) -> int:
    from rlhf_otel.cli._demo import format_stats, run_demo, write_demo_queue

    options: dict[str, Any] = {"backend": args.backend}
    existing = 0
    if args.backend == "local":
        options["data_dir"] = args.data_dir
        data_dir = Path(args.data_dir)
        existing = sum(1 for _ in data_dir.iterdir()) if data_dir.is_dir() else 0
        if existing and not args.append:
            print(
                f"rlhf-otel: error: {args.data_dir} is not empty ({existing} files): pass "
                "--append to add the demo's records to that store, or --data-dir NEW_DIR",
                file=sys.stderr,
            )
            return 2
    with create_rlhf_logger(**options) as logger:
        stats = run_demo(logger, conversations=args.conversations, seed=args.seed)
        delivery = logger.delivery()
    queue_file = None
    if args.backend == "local":
        queue_file = write_demo_queue(args.data_dir)
        did = "appended to the store in" if existing else "created a new store in"
        where = f"{did} {args.data_dir}"
    else:
        where = "in memory (gone when the demo exits)"
    if args.json:
        doc = {
            "stats": stats.to_dict(),
            "delivery": delivery,
            "store": where,
            "queue_file": queue_file,
        }
        print(json.dumps(doc, indent=2))
    else:
        print(f"rlhf-otel demo: {args.conversations} simulated conversations, {where}\n")
        print(format_stats(stats))
        print(f"\nstored {delivery['stored']} records, dropped {sum(delivery['dropped'].values())}")
        if queue_file is not None:
            print(
                f"\nSome answers were left unrated. Review them (blind A/B pairs):\n"
                f"  rlhf-otel review --data-dir {args.data_dir}\n"
                f"(it serves the queue file {queue_file}; edit it to change the rubric)"
            )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = OneLineErrorParser(
        prog="rlhf-otel", description="Human feedback on LLM answers, as OpenTelemetry spans."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="simulate a chat app with feedback and print the stats")
    demo.add_argument(
        "--data-dir",
        default="./rlhf-data",
        help="local store; must be empty or new unless --append (default ./rlhf-data)",
    )
    demo.add_argument(
        "--backend",
        choices=("local", "memory"),
        default="local",
        help="local (JSONL files in --data-dir, default) or memory",
    )
    demo.add_argument(
        "--append",
        action="store_true",
        help="add the demo's records to a store that already holds data",
    )
    demo.add_argument(
        "--conversations", type=int, default=40, help="simulated conversations (default 40)"
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--json", action="store_true", help="machine-readable output")
    demo.set_defaults(handler=_demo)
    register(sub)
    register_collect(sub)
    register_review(sub)
    register_judge(sub)
    return parser


_SIGTERM_SEEN: list[int] = []


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _SIGTERM_SEEN.append(signum)
    raise _Terminated()


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code: 0 done, 1 writing failed, 2 bad arguments or an
    unusable store, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM); one line on stderr."""
    parser = build_parser()
    args = parser.parse_args(argv)
    prepare_streams()
    try:
        with _sigterm_raises(), engine_scope(args):
            code: int = args.handler(args)
    except KeyboardInterrupt:
        print("rlhf-otel: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _Terminated:
        print("rlhf-otel: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except RuntimeError as exc:
        # the analytics engine turns a signal during a query into "Query interrupted"
        if "interrupted" not in str(exc).lower():
            raise
        if _SIGTERM_SEEN:
            print("rlhf-otel: terminated", file=sys.stderr)
            return EXIT_TERMINATED
        print("rlhf-otel: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (RLHFError, OSError) as exc:
        print(f"rlhf-otel: error: {exc}", file=sys.stderr)
        return 2
    return code


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
