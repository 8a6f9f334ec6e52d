"""The analytics engine: a DuckDB connection with the views ``interactions`` and ``feedback``.

A JSONL store is read in place (every segment, plain or gzip, torn lines skipped, through
hard links that outlive the store's compression and retention); any other
store is read once through Arrow batches into the engine's private database file. Feedback is
read from either once, into a temporary table (within the memory limit, spilling to the
private directory), which the counting rule and every feedback view read.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Final

from rlhf_otel._errors import ConfigurationError, RLHFError
from rlhf_otel.analytics._limits import EngineConfig, GuardedConnection
from rlhf_otel.analytics._snapshot import KINDS, snapshot_segments
from rlhf_otel.analytics._views import (
    ANY_SUPERSEDES_SQL,
    DUPLICATES_TABLE,
    FEEDBACK_KEYS_TABLE,
    FEEDBACK_ROWS_VIEW,
    FEEDBACK_STORED_TABLE,
    FEEDBACK_VERSIONS_VIEW,
    FEEDBACK_VIEW,
    INTERACTIONS_VIEW,
    RAW_FEEDBACK,
    RAW_INTERACTIONS,
    flattened_sql,
    uncounted_sql,
)
from rlhf_otel.records import Feedback, Interaction, format_timestamp, json_default
from rlhf_otel.stores import Store, store_flush, store_segment_files
from rlhf_otel.stores.jsonl import StoreFiles, list_store_files

__all__ = [
    "AnalyticsUnavailableError",
    "Engine",
    "arrow_batches",
    "EngineConfig",
    "open_engine",
    "require_duckdb",
]

ARROW_BATCH: Final = 2048
_REPORTED: Final = 100_000
_MAX_LINE: Final = 16 * 1024 * 1024
_LONE_SURROGATE: Final = r"\\u[dD][89a-fA-F]"
_LONE_SURROGATE_4: Final = r"\\u[dD][89a-fA-F][0-9a-fA-F][0-9a-fA-F]"


class AnalyticsUnavailableError(RLHFError, ImportError):
    """Analytics or an export was asked for but ``duckdb`` is not installed."""


def require_duckdb() -> Any:
    """The ``duckdb`` module, or an :class:`AnalyticsUnavailableError` saying what to install."""
    try:
        import duckdb
    except ImportError as exc:
        raise AnalyticsUnavailableError(
            "analytics and exports need duckdb, which is not installed: "
            "pip install 'rlhf-otel[analytics]'"
        ) from exc
    return duckdb


def _require_pyarrow() -> Any:
    try:
        import pyarrow  # type: ignore[import-untyped]  # pyarrow ships no type information
    except ImportError as exc:
        raise AnalyticsUnavailableError(
            "analytics over this store needs pyarrow, which is not installed: "
            "pip install 'rlhf-otel[analytics]'"
        ) from exc
    return pyarrow


class Engine:
    """A DuckDB connection whose views ``interactions`` and ``feedback`` show one store.

    ``store`` may also be a :class:`~rlhf_otel.stores.jsonl.StoreFiles` listing, read in
    place without opening the store. ``on_connect`` is called with the connection before
    any work (to interrupt it from another thread). Use as a context manager;
    :meth:`close` removes the private directory.
    """

    def __init__(
        self,
        store: Store | StoreFiles,
        config: EngineConfig | None = None,
        *,
        on_connect: Callable[[Any], None] | None = None,
    ) -> None:
        duckdb = require_duckdb()
        memory, threads, parent = (config or EngineConfig()).resolved()
        self._ranged: dict[tuple[datetime | None, datetime | None], str] = {}
        self.files: list[str] = []
        """The files the views read (links to the store's segments that stay readable while
        the store compresses or deletes them; empty for a store read through its scans)."""
        self._duplicates = self._supersedes = True
        if parent is not None:
            os.makedirs(parent, mode=0o700, exist_ok=True)  # as DuckDB does with its own
        self._dir = tempfile.mkdtemp(prefix="rlhf-otel-analytics-", dir=parent)
        os.chmod(self._dir, 0o700)
        # An engine dropped without close() (a half-read TrainingRows, say) must not keep
        # its links: they hold deleted segments' disk space for as long as they exist.
        opened: list[Any] = []
        self._release = weakref.finalize(self, _release, opened, self._dir)
        try:
            self.con: Any = duckdb.connect(os.path.join(self._dir, "engine.duckdb"))
            opened.append(self.con)
            if on_connect is not None:
                on_connect(self.con)
            self.limits = (memory, threads)
            try:
                self.con.execute(f"SET memory_limit = '{_quote(memory)}'")
            except duckdb.Error as exc:
                raise ConfigurationError(
                    f"memory_limit {memory!r} is not a size DuckDB accepts (e.g. 512MB, 2GB)"
                ) from exc
            self.con.execute(f"SET threads = {int(threads)}")
            self.con.execute(f"SET temp_directory = '{_quote(os.path.join(self._dir, 'spill'))}'")
            self.con.execute("SET TimeZone = 'UTC'")
            self.con.execute("SET preserve_insertion_order = true")
            self.con.execute("SET enable_progress_bar = false")
            # every statement is retried with fewer threads when DuckDB runs out of memory
            # (except the Arrow intake, which cannot be replayed)
            self.con = GuardedConnection(self.con, duckdb, memory, threads)
            self._attach(store)
            self.con.execute(INTERACTIONS_VIEW)
            self.con.execute(FEEDBACK_STORED_TABLE)
            self.con.execute(FEEDBACK_ROWS_VIEW)
            self.con.execute(FEEDBACK_KEYS_TABLE)
            self.con.execute(DUPLICATES_TABLE)
            # the parts of the rule with nothing to find are left out of its SQL
            (dupes,) = self.con.execute("SELECT count(*) FROM feedback_duplicates").fetchall()[0]
            (named,) = self.con.execute(ANY_SUPERSEDES_SQL).fetchall()[0]
            self._duplicates, self._supersedes = bool(dupes), bool(named)
            self.con.execute(self._uncounted("feedback_uncounted"))
            self.con.execute(FEEDBACK_VERSIONS_VIEW)
            self.con.execute(FEEDBACK_VIEW)
            self._report_duplicates(store)
        except BaseException:
            self.close()
            raise

    def _attach(self, store: Store | StoreFiles) -> None:
        given: list[StoreFiles] = []
        if isinstance(store, StoreFiles):
            given.append(store)
        else:
            store_flush(store)

        def list_files() -> dict[str, list[str] | None]:
            if isinstance(store, StoreFiles):
                # the listing given first, then fresh ones when a file moved before its link
                now = given.pop() if given else list_store_files(store.data_dir) or store
                return {kind: now.segment_files(kind) for kind in KINDS}
            return {kind: store_segment_files(store, kind) for kind in KINDS}

        listed = snapshot_segments(list_files, os.path.join(self._dir, "segments"))
        self.files = [f for kind in KINDS for f in listed[kind] or ()]
        if listed["interactions"] is not None and listed["feedback"] is not None:
            for kind, cols in (("interactions", RAW_INTERACTIONS), ("feedback", RAW_FEEDBACK)):
                files = listed[kind]
                if not files:
                    self.con.execute(f"CREATE TABLE raw_{kind} ({_ddl(cols)})")
                    continue
                lines = (
                    f"read_csv({_list(files)}, columns = {{'line': 'VARCHAR'}}, delim = chr(31), "
                    "quote = '', escape = '', header = false, auto_detect = false, "
                    f"max_line_size = {_MAX_LINE}, buffer_size = {2 * _MAX_LINE}, "
                    "ignore_errors = true)"
                )
                (lone,) = self.con.execute(
                    f"SELECT EXISTS (SELECT 1 FROM {lines} "
                    "WHERE contains(line, '\\u') AND regexp_matches(line, ?))",
                    [_LONE_SURROGATE],
                ).fetchall()[0]
                if lone:
                    # DuckDB's JSON reader refuses an escaped lone surrogate (which the store
                    # writes for text Python could not encode): read such lines as U+FFFD
                    fixed = "regexp_replace(line, ?, '\\\\ufffd', 'g')"
                    self.con.execute(
                        f"CREATE TABLE raw_{kind} AS SELECT unnest(json_transform(l, "
                        f"'{_structure(cols)}')) FROM (SELECT {fixed} AS l FROM {lines}) "
                        "WHERE json_valid(l)",
                        [_LONE_SURROGATE_4],
                    )
                    continue
                self.con.execute(
                    f"CREATE VIEW raw_{kind} AS SELECT * FROM "
                    f"read_json({_list(files)}, format = 'newline_delimited', "
                    f"columns = {_struct(cols)}, ignore_errors = true, "
                    f"maximum_object_size = {_MAX_LINE}, union_by_name = false)"
                )
            return
        assert not isinstance(store, StoreFiles)  # a listing always has its files
        pa = _require_pyarrow()
        raw = self.con.raw
        for kind, cols in (("interactions", RAW_INTERACTIONS), ("feedback", RAW_FEEDBACK)):
            raw.execute(f"CREATE TABLE raw_{kind} ({_ddl(cols)})")
            reader = arrow_reader(pa, store, kind)
            raw.register("_incoming", reader)
            try:
                raw.execute(f"INSERT INTO raw_{kind} SELECT * FROM _incoming")
            finally:
                raw.unregister("_incoming")

    def _uncounted(self, table: str, where: str = "") -> str:
        return uncounted_sql(table, where, duplicates=self._duplicates, supersedes=self._supersedes)

    @property
    def out_of_memory_retries(self) -> int:
        """Statements retried with fewer threads after DuckDB ran out of memory."""
        con = self.con
        return con.retries if isinstance(con, GuardedConnection) else 0

    def _report_duplicates(self, store: Store | StoreFiles) -> None:
        note = getattr(store, "note_duplicates", None)
        if note is None:
            return
        rows = self.con.execute(
            f"SELECT id, count(*) FROM feedback_duplicates GROUP BY id LIMIT {_REPORTED}"
        ).fetchall()
        if rows:
            note("feedback", rows)

    @property
    def feedback_view(self) -> str:
        """``feedback``: the feedback that counts, the rule applied over the whole store."""
        return "feedback"

    def counted(self, start: datetime | None, end: datetime | None) -> str:
        """A subquery of the feedback that counts among the records in ``[start, end]``
        (``rlhf_otel.records.count_feedback``: votes as they stood at ``end``); its
        columns are the ``feedback`` view's, and it holds only records in the range."""
        if start is None and end is None:
            return "feedback"
        key = (start, end)
        name = self._ranged.get(key)
        if name is None:
            name = f"feedback_uncounted_{len(self._ranged) + 1}"
            w, params = _range(start, end)
            self.con.execute(self._uncounted(name, w), params)
            self._ranged[key] = name
        w, params = _range(start, end)
        inner = (
            f"SELECT * FROM feedback_rows WHERE seq NOT IN (SELECT seq FROM {name}) "
            f"AND {_bind(w, params)}"
        )
        return "(" + flattened_sql(inner) + ")"

    def sql(self, query: str, params: list[Any] | None = None) -> Any:
        """Run ``query`` and return the DuckDB result (fetch with ``fetchall``, ``arrow``...)."""
        return self.con.execute(query, params or [])

    def relation(self, query: str, params: list[Any] | None = None) -> Any:
        """``query`` as a DuckDB relation (for Arrow output: :func:`arrow_batches`)."""
        return self.con.sql(query, params=params or None)

    def close(self) -> None:
        """Close the connection and remove the private directory (also done when the
        engine is garbage-collected or the interpreter exits without this call)."""
        self.con = None
        self._release()

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def arrow_batches(relation: Any, rows: int) -> Any:
    """A relation's rows as a ``pyarrow.RecordBatchReader`` of ``rows``-row batches."""
    method = getattr(relation, "to_arrow_reader", None)  # DuckDB 2
    if method is None:
        method = relation.fetch_arrow_reader  # DuckDB 1.x
    return method(rows)


def open_engine(
    store: Store | StoreFiles,
    config: EngineConfig | None = None,
    *,
    on_connect: Callable[[Any], None] | None = None,
) -> Engine:
    """An :class:`Engine` over ``store`` (close it, or use it in a ``with`` block)."""
    return Engine(store, config, on_connect=on_connect)


def _range(start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    parts, params = [], []
    if start is not None:
        parts.append('"timestamp" >= ?')
        params.append(start)
    if end is not None:
        parts.append('"timestamp" <= ?')
        params.append(end)
    return " AND ".join(parts), params


def _bind(sql: str, params: list[datetime]) -> str:
    """``sql`` with each ``?`` replaced by a UTC timestamp literal (for use in subqueries)."""
    for value in params:
        literal = f"TIMESTAMPTZ '{format_timestamp(value)}'"
        sql = sql.replace("?", literal, 1)
    return sql


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _list(paths: list[str]) -> str:
    return "[" + ", ".join(f"'{_quote(p)}'" for p in paths) + "]"


def _struct(cols: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in cols.items()) + "}"


def _structure(cols: Mapping[str, str]) -> str:
    """The ``json_transform`` structure of the raw columns."""
    import json

    def one(sql_type: str) -> Any:
        if sql_type.endswith("[]"):
            return [sql_type[:-2]]
        if sql_type.startswith("STRUCT("):
            fields = (f.strip().split(" ") for f in sql_type[7:-1].split(","))
            return {name: typ for name, typ in fields}
        return sql_type

    return _quote(json.dumps({k: one(v) for k, v in cols.items()}))


def _ddl(cols: Mapping[str, str]) -> str:
    return ", ".join(f'"{k}" {v}' for k, v in cols.items())


def _json(value: Any) -> str | None:
    if value is None:
        return None
    import json

    return json.dumps(value, ensure_ascii=False, default=json_default)


def _interaction_row(it: Interaction) -> tuple[Any, ...]:
    u = it.token_usage
    return (
        it.id, format_timestamp(it.timestamp), it.prompt, it.response, it.model, it.provider,
        _json(dict(it.model_params)), None if it.latency_ms is None else float(it.latency_ms),
        None if u is None else {"prompt": u.prompt, "completion": u.completion, "total": u.total},
        it.user_id, it.session_id, _json([dict(m) for m in it.context]),
        _json(dict(it.metadata)), it.response_id, list(it.finish_reasons), it.error_type,
        None if it.time_to_first_token_ms is None else float(it.time_to_first_token_ms),
        it.trace_id, it.span_id,
    )  # fmt: skip


def _feedback_row(fb: Feedback) -> tuple[Any, ...]:
    return (
        fb.id, fb.interaction_id, fb.type.value, _json(dict(fb.data)),
        format_timestamp(fb.timestamp), fb.user_id, fb.session_id, fb.source,
        _json(dict(fb.metadata)), list(fb.target_ids), fb.trace_id, fb.span_id,
        getattr(fb, "supersedes", None),
    )  # fmt: skip


def _arrow_type(pa: Any, sql_type: str) -> Any:
    if sql_type in ("VARCHAR", "JSON"):
        return pa.string()
    if sql_type == "DOUBLE":
        return pa.float64()
    if sql_type == "VARCHAR[]":
        return pa.list_(pa.string())
    i64 = pa.int64()
    return pa.struct([("prompt", i64), ("completion", i64), ("total", i64)])


def arrow_reader(pa: Any, store: Store, kind: str) -> Any:
    """The store's records of ``kind`` as a ``pyarrow.RecordBatchReader`` of raw columns."""
    cols = RAW_INTERACTIONS if kind == "interactions" else RAW_FEEDBACK
    schema = pa.schema([(k, _arrow_type(pa, v)) for k, v in cols.items()])

    def batches() -> Iterator[Any]:
        rows: list[tuple[Any, ...]] = []
        if kind == "interactions":
            records = map(_interaction_row, store.scan_interactions())
        else:
            records = map(_feedback_row, store.scan_feedback())
        for row in records:
            rows.append(row)
            if len(rows) == ARROW_BATCH:
                yield _batch(pa, schema, rows)
                rows = []
        if rows:
            yield _batch(pa, schema, rows)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _batch(pa: Any, schema: Any, rows: list[tuple[Any, ...]]) -> Any:
    columns = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays(
        [pa.array(list(c), type=f.type) for c, f in zip(columns, schema, strict=True)],
        schema=schema,
    )


def _release(opened: list[Any], directory: str) -> None:
    """Close the connection in ``opened`` (if any) and remove ``directory``."""
    for con in opened:
        con.close()
    opened.clear()
    shutil.rmtree(directory, ignore_errors=True)
