"""The ``sql`` command: read-only ad-hoc SQL over the views ``interactions`` and ``feedback``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from rlhf_otel._env import ANALYTICS_TEMP_DIR
from rlhf_otel._errors import ConfigurationError, RLHFError, StoreError
from rlhf_otel.analytics import (
    AnalyticsUnavailableError,
    EngineConfig,
    counted_view_sql,
    open_engine,
    require_duckdb,
)
from rlhf_otel.cli._commands import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    CLIError,
    StoreOpener,
    _fail,
    _non_negative,
    _progress_flags,
)
from rlhf_otel.cli._engine_flags import add_engine_flags
from rlhf_otel.cli._output import table
from rlhf_otel.cli._sql_guard import (
    ALLOWED_STATEMENTS,
    lock_down,
    refused_relations,
    refused_statement,
)
from rlhf_otel.cli._sql_watch import QueryWatch
from rlhf_otel.export import LAKE_KINDS, lake_schema
from rlhf_otel.records import json_default
from rlhf_otel.stores import Store
from rlhf_otel.stores.jsonl import StoreFiles, list_store_files

__all__ = ["ALLOWED_STATEMENTS", "register_sql"]

DEFAULT_TIMEOUT_S: Final = 60.0
DEFAULT_MAX_ROWS: Final = 10_000
_BATCH: Final = 2_000
_CELL: Final = 60
# The counting rule of the store's views (rlhf_otel.records.count_feedback), over the lake.
_LAKE_FEEDBACK: Final = counted_view_sql("feedback", "feedback_versions", "id")


def register_sql(subparsers: Any, *, store_opener: StoreOpener | None = None) -> None:
    """Add the ``sql`` command to an argparse subparsers object.

    Without ``store_opener`` the JSONL store in ``--data-dir`` is read in place, read-only;
    with one, the store it opens is read through the engine (tests, other stores).
    """
    p = subparsers.add_parser(
        "sql",
        help="read-only SQL over the views interactions and feedback",
        description="Run one read-only query (a SELECT) over the views `interactions` and "
        "`feedback` (latest version of each feedback).",
    )
    p.add_argument("query", help='e.g. "SELECT type, count(*) FROM feedback GROUP BY type"')
    p.add_argument(
        "--data-dir",
        default=os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR),
        help=f"store directory (default ${DATA_DIR_ENV} or {DEFAULT_DATA_DIR})",
    )
    p.add_argument("--lake", help="query this Parquet lake directory instead of the store")
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT_S,
        help=f"stop the query after this many seconds (default {DEFAULT_TIMEOUT_S:g}; 0: never)",
    )
    p.add_argument(
        "--max-rows",
        type=_non_negative,
        default=DEFAULT_MAX_ROWS,
        help=f"print at most this many rows (default {DEFAULT_MAX_ROWS:,}; 0: all); "
        "stderr says when rows were cut",
    )
    _progress_flags(p)
    add_engine_flags(p)
    run = _runner(store_opener)
    p.set_defaults(handler=run, func=run)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds >= 0")
    return seconds


def _runner(store_opener: StoreOpener | None) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            duckdb = require_duckdb()
        except AnalyticsUnavailableError as exc:
            return _fail(str(exc))
        try:
            refused = refused_statement(duckdb, args.query)
        except duckdb.Error as exc:
            return _fail(f"SQL: {exc}")
        if refused:
            return _fail(refused)
        with QueryWatch(args.timeout or None) as watch:
            try:
                code = _query(duckdb, args, store_opener, watch)
            except (CLIError, ConfigurationError) as exc:
                code = _fail(str(exc))
            except duckdb.Error as exc:
                code = _fail(f"SQL: {exc}") if not watch.stopped else 0
            except BrokenPipeError:
                raise
            except (OSError, StoreError, RLHFError) as exc:
                code = _fail(str(exc), code=1)
        if watch.signal is not None:
            sys.stdout.flush()
            terminated = watch.signal == signal.SIGTERM
            sys.stderr.write(f"rlhf-otel: {'terminated' if terminated else 'interrupted'}\n")
            return 128 + watch.signal
        if watch.timed_out:
            return _fail(
                f"SQL: the query ran past --timeout {args.timeout:g} s and was stopped "
                "(narrow it, add a LIMIT, or raise --timeout; 0: never)"
            )
        return code

    return run


def _query(
    duckdb: Any, args: argparse.Namespace, store_opener: StoreOpener | None, watch: QueryWatch
) -> int:
    with _Views(duckdb, args, store_opener, watch) as (con, files):
        if watch.stopped:
            return 0
        relations = [
            r
            for (r,) in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal "
                "UNION SELECT table_name FROM duckdb_tables() WHERE NOT internal"
            ).fetchall()
        ]
        refused = refused_relations(duckdb, args.query, relations)
        if refused:
            return _fail(refused)
        tty = sys.stdout.isatty() and sys.stderr.isatty()
        lock_down(con, files, progress=args.progress is not False and tty)
        _print(con.execute(args.query), args.json, args.max_rows, watch)
    return 0


class _Views:
    """A connection with the views, over the store or over a lake; closes what it opened.

    Entering gives the connection and the files its views read.
    """

    def __init__(
        self,
        duckdb: Any,
        args: argparse.Namespace,
        store_opener: StoreOpener | None,
        watch: QueryWatch,
    ) -> None:
        self._duckdb = duckdb
        self._args = args
        self._opener = store_opener
        self._watch = watch
        self._close: list[Callable[[], None]] = []

    def __enter__(self) -> tuple[Any, list[str]]:
        args = self._args
        try:
            if args.lake is not None:
                return self._lake(Path(args.lake))
            source: Store | StoreFiles
            if self._opener is None:
                source = _store_files(Path(args.data_dir))
            else:
                try:
                    store = self._opener(args)
                except (OSError, StoreError, ValueError) as exc:
                    raise CLIError(f"cannot read store at {args.data_dir}: {exc}") from exc
                self._close.append(store.close)
                source = store
            engine = open_engine(source, _engine_config(args), on_connect=self._watch.attach)
            self._close.append(engine.close)
            return engine.con, engine.files
        except BaseException:
            self.__exit__()
            raise

    def _lake(self, root: Path) -> tuple[Any, list[str]]:
        if not root.is_dir():
            raise CLIError(f"cannot read lake: {root} is not a directory")
        con = self._duckdb.connect(":memory:")
        self._close.append(con.close)
        self._watch.attach(con)
        con.execute("SET TimeZone = 'UTC'")
        every: list[str] = []
        for kind in LAKE_KINDS:
            files = sorted(str(p) for p in root.glob(f"kind={kind}/date=*/*.parquet"))
            every += files
            name = "feedback_versions" if kind == "feedback" else "interactions"
            if files:
                listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
                # lakes copied together may hold a record twice: one row per id
                con.execute(
                    f"CREATE VIEW {name} AS SELECT * EXCLUDE (kind) FROM read_parquet("
                    f"[{listed}], hive_partitioning = true) "
                    "QUALIFY row_number() OVER (PARTITION BY id ORDER BY date) = 1"
                )
            else:
                empty = lake_schema(kind).empty_table()
                con.register("empty_lake", empty)
                con.execute(f"CREATE TABLE {name} AS SELECT *, NULL::DATE AS date FROM empty_lake")
                con.unregister("empty_lake")
        if not every:
            raise CLIError(
                f"cannot read lake: {root} holds no kind=*/date=*/*.parquet files "
                "(give the directory `export --format parquet-lake` wrote)"
            )
        con.execute(_LAKE_FEEDBACK)
        return con, every

    def __exit__(self, *exc: object) -> None:
        self._watch.detach()
        while self._close:
            self._close.pop()()


def _store_files(data_dir: Path) -> StoreFiles:
    """The segments of the JSONL store in ``data_dir``, listed without opening it."""
    try:
        files = list_store_files(data_dir)
    except NotADirectoryError:
        raise CLIError(
            f"cannot read store: {data_dir} is not a directory (set --data-dir)"
        ) from None
    if files is None:
        raise CLIError(
            f"cannot read store: {data_dir} is not an rlhf-otel store (none of its segment "
            "or lock files are there); give the --data-dir a logger or `collect` writes to"
        )
    return files


def _engine_config(args: argparse.Namespace) -> EngineConfig:
    """The engine's settings, refusing a temporary directory inside the data."""
    config = EngineConfig()
    parent = config.resolved()[2] or tempfile.gettempdir()
    data = Path(args.lake if args.lake is not None else args.data_dir).resolve()
    if Path(parent).resolve().is_relative_to(data):
        raise CLIError(
            f"the analytics temp directory {parent} is inside {data}; sql writes nothing "
            f"there: give --temp-dir (or {ANALYTICS_TEMP_DIR}) outside it"
        )
    return config


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, (datetime, date)) else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _print(cur: Any, as_json: bool, max_rows: int, watch: QueryWatch) -> None:
    """Print up to ``max_rows`` rows (0: all) without reading further ones."""
    names = [d[0] for d in cur.description or ()]
    shown = 0
    cut = False
    table_rows: list[Sequence[object]] = []
    while not watch.stopped:
        want = _BATCH if not max_rows else min(_BATCH, max_rows - shown + 1)
        rows = cur.fetchmany(want)
        if not rows:
            break
        if max_rows and shown + len(rows) > max_rows:
            rows = rows[: max_rows - shown]
            cut = True
        shown += len(rows)
        if as_json:
            write = sys.stdout.write
            for row in rows:
                write(json.dumps(dict(zip(names, row, strict=True)), default=json_default) + "\n")
        else:
            table_rows.extend([_cell(v) for v in r] for r in rows)
        if cut:
            break
    if watch.stopped:
        return
    if not as_json:
        print(table(names, table_rows))
        print(f"({shown:,} row{'s' if shown != 1 else ''}{' shown' if cut else ''})")
    sys.stdout.flush()
    if cut:
        sys.stderr.write(
            f"rlhf-otel sql: output cut at --max-rows {max_rows:,}; the query has more rows "
            "(add a LIMIT, or raise --max-rows; 0: all)\n"
        )
