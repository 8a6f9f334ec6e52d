"""The ``stats``, ``export``, ``query`` and ``report`` commands of the ``rlhf-otel`` CLI.

``register(subparsers)`` adds them to an argparse parser; each sets ``handler`` (and
``func``) to a callable
taking the parsed namespace and returning the exit code (0 done, 1 failed, 2 bad arguments
or unreadable store, with a one-line message on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, NoReturn

from rlhf_otel import _env
from rlhf_otel._errors import RLHFError, StoreError, ValidationError
from rlhf_otel.cli._engine_flags import add_engine_flags
from rlhf_otel.cli._handlers import cmd_export, cmd_query, cmd_report, cmd_stats
from rlhf_otel.cli._serve import register as register_serve
from rlhf_otel.records import (
    ExportFormat,
    FeedbackType,
    as_utc,
    parse_timestamp,
    utc_now,
    validate_id,
)
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
    from rlhf_otel.stores import JsonlStore

    return JsonlStore(data_dir)


def _time(value: str) -> datetime:
    m = _RELATIVE.fullmatch(value.strip())
    if m:
        return utc_now() - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        text = value.strip()
        if text.endswith(("Z", "z")):
            return parse_timestamp(text[:-1] + "+00:00")
        ts = as_utc(datetime.fromisoformat(text))  # no offset: local time, like the API
        assert ts is not None
        return ts
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


def _positive(value: str) -> int:
    n = _non_negative(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 1")
    return n


def _interaction_id(value: str) -> str:
    try:
        return validate_id(value)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common(p: argparse.ArgumentParser, *, time: bool = True) -> None:
    p.add_argument(
        "--data-dir",
        default=os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR),
        help=f"store directory (default ${DATA_DIR_ENV} or {DEFAULT_DATA_DIR})",
    )
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")
    if time:
        p.add_argument(
            "--since",
            type=_time,
            help="from this time: ISO-8601 (no offset: local time) or 30m, 24h, 7d, 2w ago",
        )
        p.add_argument("--until", type=_time, help="up to this time, same forms (default now)")
    p.add_argument("--user", help="only records of this user id")
    p.add_argument("--session", help="only records of this session id")


def _types_flag(p: argparse.ArgumentParser) -> None:
    allowed = ", ".join(t.value for t in FeedbackType)
    p.add_argument(
        "--type",
        dest="types",
        action="append",
        type=_feedback_type,
        metavar="TYPE",
        help=f"only this feedback type (repeatable): {allowed}",
    )


def _progress_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="show progress on stderr (default: only when stderr is a terminal)",
    )
    g.add_argument(
        "--no-progress", dest="progress", action="store_false", help="never show progress"
    )


def register(subparsers: Any, *, store_opener: StoreOpener = open_store) -> None:
    """Add ``stats``, ``export``, ``query`` and ``report`` to an argparse subparsers object."""
    register_serve(subparsers)
    p = subparsers.add_parser("stats", help="feedback statistics")
    _common(p)
    _types_flag(p)
    p.add_argument("--source", help="only feedback from this source (web, api, ...)")
    p.add_argument("--full", action="store_true", help="add breakdowns, rankings, agreement")
    _progress_flags(p)
    add_engine_flags(p)
    _set_handler(p, _wrap(cmd_stats, store_opener))

    p = subparsers.add_parser("export", help="export records or a training set")
    _common(p)
    p.add_argument(
        "--format", required=True, choices=[f.value for f in ExportFormat], metavar="FORMAT",
        help="json, jsonl, csv, parquet, parquet-lake (--out DIR), or dpo, kto, reward, sft",
    )  # fmt: skip
    p.add_argument(
        "--out",
        required=True,
        help="output file, replaced atomically; a FIFO, device or /dev/stdout is written "
        "through, a symlink followed; '-' for standard output",
    )
    _types_flag(p)
    p.add_argument(
        "--limit",
        type=_non_negative,
        help="at most this many records of each kind (training sets: rows)",
    )
    p.add_argument("--no-interactions", action="store_true", help="record formats: no interactions")
    p.add_argument("--no-feedback", action="store_true", help="record formats: no feedback")
    p.add_argument("--no-metadata", action="store_true", help="leave out every metadata field")
    p.add_argument("--compact", action="store_true", help="JSON on one line")
    p.add_argument(
        "--container",
        choices=["jsonl", "parquet"],
        help="file format of a training set (default: parquet if --out ends in .parquet)",
    )
    p.add_argument(
        "--conversational",
        choices=["auto", "always", "never"],
        default="auto",
        help="training rows as message lists: auto (when any context), always or never",
    )
    p.add_argument(
        "--positive-threshold",
        type=float,
        default=0.75,
        help="KTO/SFT: satisfaction at least this is good (default 0.75)",
    )
    p.add_argument(
        "--negative-threshold",
        type=float,
        default=0.25,
        help="KTO: satisfaction at most this is bad (default 0.25)",
    )
    p.add_argument(
        "--evaluators",
        choices=["human", "model", "all"],
        default="human",
        help="whose feedback: human (end users and reviewers, default), model (LLM judges' "
        "verdicts) or all; in training sets people win over a judge on the same item",
    )
    p.add_argument(
        "--max-pairs-per-prompt",
        type=_positive,
        help="DPO/reward: most score-derived pairs from one prompt (default: all)",
    )
    _progress_flags(p)
    add_engine_flags(p)
    _set_handler(p, _wrap(cmd_export, store_opener))

    p = subparsers.add_parser("query", help="list feedback or interactions")
    _common(p)
    p.add_argument(
        "--kind",
        choices=["feedback", "interactions"],
        default="feedback",
        help="what to list (default feedback)",
    )
    _types_flag(p)
    p.add_argument("--source", help="only feedback from this source")
    p.add_argument("--model", help="only interactions of this model, or feedback on them")
    p.add_argument(
        "--interaction",
        dest="interaction_ids",
        action="append",
        type=_interaction_id,
        metavar="ID",
        help="only this interaction, or feedback on it (repeatable)",
    )
    p.add_argument("--min-rating", type=float, help="only ratings of at least this")
    p.add_argument("--max-rating", type=float, help="only ratings of at most this")
    p.add_argument(
        "--limit", type=_non_negative, default=20, help="show at most this many rows (default 20)"
    )
    p.add_argument(
        "--offset", type=_non_negative, default=0, help="skip this many rows first (default 0)"
    )
    _set_handler(p, _wrap(cmd_query, store_opener))

    p = subparsers.add_parser("report", help="write a self-contained HTML report")
    _common(p)
    p.add_argument(
        "--out",
        required=True,
        help="the HTML file, replaced atomically; a FIFO, device or /dev/stdout is written "
        "through; '-' for standard output",
    )
    p.add_argument(
        "--interval",
        choices=["hour", "day", "week", "month"],
        default="day",
        help="trend bucket (default day)",
    )
    _types_flag(p)
    p.add_argument("--source", help="only feedback from this source")
    p.add_argument("--title", default="rlhf-otel feedback report", help="the report's title")
    _progress_flags(p)
    add_engine_flags(p)
    _set_handler(p, _wrap(cmd_report, store_opener))
    from rlhf_otel.cli._sql import register_sql  # here: _sql imports this module

    # sql reads the default store in place, without opening it for writing
    register_sql(subparsers, store_opener=None if store_opener is open_store else store_opener)


def _set_handler(p: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int]) -> None:
    # ``handler`` is what the main entry point dispatches on; ``func`` is the argparse idiom.
    p.set_defaults(handler=run, func=run)


def _wrap(
    cmd: Callable[[argparse.Namespace, Store], int], store_opener: StoreOpener
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        if args.since and args.until and args.since > args.until:
            return _fail("--since is after --until")
        lo, hi = getattr(args, "min_rating", None), getattr(args, "max_rating", None)
        if lo is not None and hi is not None and lo > hi:
            return _fail(f"--min-rating {lo:g} is above --max-rating {hi:g}: nothing can match")
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
        except BrokenPipeError:  # the reader went away (``| head``): stop quietly
            _silence_stdout()
            return 1
        except (OSError, StoreError) as exc:
            return _fail(str(exc), code=1)
        finally:
            store.close()

    return run


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _fail(message: str, code: int = 2) -> int:
    sys.stderr.write(f"rlhf-otel: error: {message.splitlines()[0] if message else 'failed'}\n")
    return code
