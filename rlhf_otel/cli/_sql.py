"""The ``sql`` command: read-only ad-hoc SQL over the views ``interactions`` and ``feedback``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from rlhf_otel._errors import RLHFError, StoreError
from rlhf_otel.analytics import AnalyticsUnavailableError, open_engine, require_duckdb
from rlhf_otel.analytics._views import counted_view_sql
from rlhf_otel.cli._commands import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    CLIError,
    StoreOpener,
    _fail,
    _progress_flags,
    open_store,
)
from rlhf_otel.cli._engine_flags import add_engine_flags
from rlhf_otel.cli._output import table
from rlhf_otel.export import LAKE_KINDS, lake_schema

__all__ = ["ALLOWED_STATEMENTS", "register_sql"]

ALLOWED_STATEMENTS: Final = ("SELECT", "EXPLAIN")
"""Statement types ``sql`` runs; anything else (DELETE, COPY, ATTACH, SET, ...) is refused."""
_TABLE_ROWS: Final = 1000
_CELL: Final = 60
# The counting rule of the store's views (rlhf_otel.records.count_feedback), over the lake.
_LAKE_FEEDBACK: Final = counted_view_sql("feedback", "feedback_versions", "id")


def register_sql(subparsers: Any, *, store_opener: StoreOpener = open_store) -> None:
    """Add the ``sql`` command to an argparse subparsers object."""
    p = subparsers.add_parser(
        "sql",
        help="read-only SQL over the views interactions and feedback",
        description="Run one read-only query (SELECT or EXPLAIN) over the views "
        "`interactions` and `feedback` (latest version of each feedback).",
    )
    p.add_argument("query", help='e.g. "SELECT type, count(*) FROM feedback GROUP BY type"')
    p.add_argument(
        "--data-dir",
        default=os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR),
        help=f"store directory (default ${DATA_DIR_ENV} or {DEFAULT_DATA_DIR})",
    )
    p.add_argument("--lake", help="query this Parquet lake directory instead of the store")
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    _progress_flags(p)
    add_engine_flags(p)
    run = _runner(store_opener)
    p.set_defaults(handler=run, func=run)


def _runner(store_opener: StoreOpener) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            duckdb = require_duckdb()
        except AnalyticsUnavailableError as exc:
            return _fail(str(exc))
        try:
            refused = _refused(duckdb, args.query)
        except duckdb.Error as exc:
            return _fail(f"SQL: {exc}")
        if refused:
            return _fail(refused)
        try:
            with _Views(duckdb, args, store_opener) as con:
                _lock_down(con, args)
                _print(con.execute(args.query), args.json)
            return 0
        except CLIError as exc:
            return _fail(str(exc))
        except duckdb.Error as exc:
            return _fail(f"SQL: {exc}")
        except (OSError, StoreError, RLHFError) as exc:
            return _fail(str(exc), code=1)

    return run


def _refused(duckdb: Any, query: str) -> str | None:
    """Why ``query`` may not run (one line), or ``None``."""
    statements = duckdb.extract_statements(query)
    if not statements:
        return "SQL: the query is empty"
    for st in statements:
        kind = st.type.name
        if kind not in ALLOWED_STATEMENTS:
            return (
                f"rlhf-otel sql is read-only: only {' and '.join(ALLOWED_STATEMENTS)} "
                f"statements run; got {kind}"
            )
    if len(statements) > 1:
        return "SQL: give one statement at a time"
    return None


class _Views:
    """A connection with the views, over the store or over a lake; closes what it opened."""

    def __init__(self, duckdb: Any, args: argparse.Namespace, store_opener: StoreOpener):
        self._duckdb = duckdb
        self._args = args
        self._opener = store_opener
        self._close: list[Callable[[], None]] = []

    def __enter__(self) -> Any:
        args = self._args
        try:
            if args.lake is not None:
                return self._lake(Path(args.lake))
            try:
                store = self._opener(args)
            except (OSError, StoreError, ValueError) as exc:
                raise CLIError(f"cannot read store at {args.data_dir}: {exc}") from exc
            self._close.append(store.close)
            engine = open_engine(store)
            self._close.append(engine.close)
            return engine.con
        except BaseException:
            self.__exit__()
            raise

    def _lake(self, root: Path) -> Any:
        if not root.is_dir():
            raise CLIError(f"cannot read lake: {root} is not a directory")
        con = self._duckdb.connect(":memory:")
        self._close.append(con.close)
        con.execute("SET TimeZone = 'UTC'")
        for kind in LAKE_KINDS:
            files = sorted(str(p) for p in root.glob(f"kind={kind}/date=*/*.parquet"))
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
        con.execute(_LAKE_FEEDBACK)
        return con

    def __exit__(self, *exc: object) -> None:
        while self._close:
            self._close.pop()()


def _lock_down(con: Any, args: argparse.Namespace) -> None:
    """No file outside the data is reachable and no setting can change, whatever runs."""
    allowed = [args.lake if args.lake is not None else args.data_dir]
    con.execute("SET allowed_directories = ?", [[str(Path(p).resolve()) + os.sep for p in allowed]])
    if args.progress is not False and sys.stdout.isatty() and sys.stderr.isatty():
        con.execute("SET enable_progress_bar = true")  # DuckDB's own bar, after 2 s
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _jsonable(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, (datetime, date)) else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _print(cur: Any, as_json: bool) -> None:
    names = [d[0] for d in cur.description or ()]
    if as_json:
        write = sys.stdout.write
        while rows := cur.fetchmany(10_000):
            for row in rows:
                write(json.dumps(dict(zip(names, row, strict=True)), default=_jsonable) + "\n")
        return
    rows = cur.fetchmany(_TABLE_ROWS + 1)
    shown: Sequence[Sequence[object]] = [[_cell(v) for v in r] for r in rows[:_TABLE_ROWS]]
    print(table(names, shown))
    if len(rows) > _TABLE_ROWS:
        rest = len(rows) - _TABLE_ROWS
        while more := cur.fetchmany(10_000):
            rest += len(more)
        sys.stderr.write(f"({rest:,} more rows not shown: add a LIMIT or use --json)\n")
    else:
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
