"""The Parquet lake: Hive-partitioned Parquet files that engines spanning machines read.

Layout: ``DIR/kind=interaction|feedback/date=YYYY-MM-DD/part-<uuid>.parquet`` (UTC date of
each record's timestamp). An export appends new files and never rewrites old ones; a record
whose id is already in the lake is not written again, so running the same export twice adds
nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from rlhf_otel._errors import RLHFError, ValidationError
from rlhf_otel.export._options import ExportOptions, ExportReport, ProgressCallback
from rlhf_otel.export._parquet import (
    BATCH_ROWS,
    _feedback_columns,
    _interaction_columns,
    require_pyarrow,
)
from rlhf_otel.export._records import iter_feedback, iter_interactions
from rlhf_otel.records._model import Feedback, Interaction
from rlhf_otel.stores._protocol import Store

if TYPE_CHECKING:
    import duckdb
    import pyarrow  # type: ignore[import-untyped]  # pyarrow ships no type information

__all__ = [
    "LAKE_KINDS",
    "AnalyticsUnavailableError",
    "lake_batches",
    "lake_schema",
    "require_duckdb",
    "write_lake",
]

LAKE_KINDS: Final = ("interaction", "feedback")
"""The values of the ``kind=`` partition."""
_LOCK: Final = ".lake.lock"
# DuckDB keeps at most this much in memory while it partitions, and spills the rest.
_MEMORY_LIMIT: Final = "512MB"
_ROW_GROUP_ROWS: Final = 65536


class AnalyticsUnavailableError(RLHFError, ImportError):
    """A feature of the analytics engine was asked for but ``duckdb`` is not installed."""


def require_duckdb() -> Any:
    """The ``duckdb`` module, or an :class:`AnalyticsUnavailableError` saying how to get it."""
    try:
        import duckdb
    except ImportError as exc:
        raise AnalyticsUnavailableError(
            "this needs the analytics engine (duckdb), which is not installed: "
            "pip install 'rlhf-otel[analytics]'"
        ) from exc
    return duckdb


def lake_schema(kind: str) -> pyarrow.Schema:
    """The columns of one kind's Parquet files (``kind`` and ``date`` are in the path).

    Args:
        kind: ``"interaction"`` or ``"feedback"``.
    """
    pa = require_pyarrow()
    s, f64, i64 = pa.string(), pa.float64(), pa.int64()
    ts = pa.timestamp("us", tz="UTC")
    if kind == "interaction":
        fields = [
            ("id", s), ("timestamp", ts), ("prompt", s), ("response", s),
            ("model", s), ("provider", s), ("model_params", s), ("latency_ms", f64),
            ("input_tokens", i64), ("output_tokens", i64), ("total_tokens", i64),
            ("user_id", s), ("session_id", s), ("context", s), ("response_id", s),
            ("finish_reasons", pa.list_(s)), ("error_type", s),
            ("time_to_first_token_ms", f64), ("trace_id", s), ("span_id", s),
            ("metadata", s),
        ]  # fmt: skip
    elif kind == "feedback":
        fields = [
            ("id", s), ("timestamp", ts), ("interaction_id", s), ("type", s),
            ("user_id", s), ("session_id", s), ("source", s), ("target_ids", pa.list_(s)),
            ("supersedes", s), ("value", s), ("rating", f64), ("min_rating", f64),
            ("max_rating", f64), ("comment", s), ("sentiment", s),
            ("dimensions", pa.map_(s, f64)), ("weights", pa.map_(s, f64)),
            ("preferred_response_id", s), ("compared_response_ids", pa.list_(s)),
            ("confidence_level", f64), ("trace_id", s), ("span_id", s), ("metadata", s),
        ]  # fmt: skip
    else:
        raise ValidationError(f"lake kind {kind!r} is unknown; allowed: interaction, feedback")
    return pa.schema(fields)


def _batches(
    kind: str, records: Iterable[Any], include_metadata: bool
) -> Iterator[pyarrow.RecordBatch]:
    """Record batches of ``lake_schema(kind)``, ``BATCH_ROWS`` records at a time."""
    pa = require_pyarrow()
    schema = lake_schema(kind)
    build: Callable[[Any, list[Any]], dict[str, Any]] = (
        _interaction_columns if kind == "interaction" else _feedback_columns
    )
    batch: list[Interaction | Feedback] = []

    def flush() -> pyarrow.RecordBatch:
        n = len(batch)
        cols = build(pa, batch)
        if kind == "feedback":
            cols["supersedes"] = pa.array([getattr(fb, "supersedes", None) for fb in batch])
        if not include_metadata:
            del cols["metadata"]
        arrays = [
            cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n, f.type) for f in schema
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    for record in records:
        batch.append(record)
        if len(batch) == BATCH_ROWS:
            yield flush()
            batch = []
    if batch:
        yield flush()


def lake_batches(
    kind: str,
    store: Store | None,
    opts: ExportOptions,
    report: ExportReport,
    progress: ProgressCallback | None,
) -> pyarrow.RecordBatchReader:
    """The records of ``kind`` that ``opts`` selects from ``store``, as lake-schema batches.

    Streams: one batch of ``BATCH_ROWS`` records is built at a time. ``store=None`` gives an
    empty reader of the same schema.
    """
    pa = require_pyarrow()
    records: Iterable[Any] = ()
    if store is not None:
        records = (
            iter_interactions(store, opts, report, progress)
            if kind == "interaction"
            else iter_feedback(store, opts, report, progress)
        )
    batches = _batches(kind, records, opts.include_metadata)
    return pa.RecordBatchReader.from_batches(lake_schema(kind), batches)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    # One writer per lake at a time, so two exports cannot both add the same ids.
    fd = os.open(root / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _lake_root(out: object) -> Path:
    if not isinstance(out, (str, os.PathLike)):
        given = "nothing" if out is None else f"a {type(out).__name__}"
        raise ValidationError(
            "parquet-lake writes a directory: pass out= a directory path (created if "
            f"missing); got {given}"
        )
    root = Path(os.fspath(out))
    if root.exists() and not root.is_dir():
        raise ValidationError(f"cannot write a Parquet lake to {root}: it is not a directory")
    if not root.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write a Parquet lake to {root}: directory {root.parent} does not exist"
        )
    if not root.exists():
        root.mkdir(mode=0o700)
        os.chmod(root, 0o700)
    return root


def _existing(root: Path, kind: str, since: datetime | None) -> list[str]:
    """Files of this kind already in the lake that could hold ids an export reads again."""
    # A record's date partition follows from its timestamp, so an export from ``since``
    # on can only meet ids in partitions of that day and later.
    first = None if since is None else f"date={since.date().isoformat()}"
    out: list[str] = []
    base = root / f"kind={kind}"
    if not base.is_dir():
        return out
    for part in sorted(base.iterdir()):
        wanted = first is None or part.name >= first
        if part.name.startswith("date=") and part.is_dir() and wanted:
            out += [str(p) for p in sorted(part.glob("*.parquet"))]
    return out


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _copy_kind(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    stage: Path,
    kind: str,
    reader: pyarrow.RecordBatchReader,
    since: datetime | None,
) -> int:
    """Append one kind's new records to the lake; returns how many rows were written."""
    con.register("incoming", reader)
    try:
        existing = _existing(root, kind, since)
        anti = (
            f"ANTI JOIN read_parquet({_sql_list(existing)}, hive_partitioning = false) AS old "
            "ON r.id = old.id"
            if existing
            else ""
        )
        target = stage / f"kind={kind}"
        row = con.execute(
            f"COPY (SELECT r.*, CAST(r.timestamp AS DATE) AS date FROM incoming AS r {anti}) "
            f"TO '{str(target).replace(chr(39), chr(39) * 2)}' (FORMAT parquet, "
            f"COMPRESSION zstd, PARTITION_BY (date), FILENAME_PATTERN 'part-{{uuid}}', "
            f"ROW_GROUP_SIZE {_ROW_GROUP_ROWS})"
        ).fetchone()
    finally:
        con.unregister("incoming")
    if not target.is_dir():
        return 0
    for part in sorted(target.iterdir()):
        dest = root / f"kind={kind}" / part.name
        for d in (dest.parent, dest):
            if not d.is_dir():
                d.mkdir(mode=0o700)
                os.chmod(d, 0o700)
        for f in sorted(part.iterdir()):
            os.chmod(f, 0o600)
            # rename is atomic: a reader sees a whole file or none
            os.rename(f, dest / f.name)
    return int(row[0]) if row else 0


def write_lake(
    store: Store,
    out: object,
    opts: ExportOptions,
    progress: ProgressCallback | None,
) -> ExportReport:
    """Append the records ``opts`` selects to the Parquet lake at ``out`` (a directory).

    ``report.rows`` counts rows written; ``report.used`` counts them by kind and
    ``report.skipped["already_in_lake"]`` the records read whose id the lake already held.
    """
    require_pyarrow()
    duckdb = require_duckdb()
    root = _lake_root(out)
    report = ExportReport(format="parquet-lake", path=str(root))
    with _locked(root):
        stage = root / f".staging-{uuid.uuid4().hex}"
        stage.mkdir(mode=0o700)
        os.chmod(stage, 0o700)
        con = duckdb.connect(":memory:")
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET memory_limit = '{_MEMORY_LIMIT}'")
            con.execute("SET preserve_insertion_order = false")
            con.execute(f"SET temp_directory = '{str(stage / 'spill').replace(chr(39), '')}'")
            for kind in LAKE_KINDS:
                if kind == "interaction" and not opts.include_interactions:
                    continue
                if kind == "feedback" and not opts.include_feedback:
                    continue
                read_before = report.interactions + report.feedback
                reader = lake_batches(kind, store, opts, report, progress)
                written = _copy_kind(con, root, stage, kind, reader, opts.start_time)
                read = report.interactions + report.feedback - read_before
                report.rows += written
                report.used[kind] += written
                report.skipped["already_in_lake"] += read - written
        finally:
            con.close()
            shutil.rmtree(stage, ignore_errors=True)
    return report
