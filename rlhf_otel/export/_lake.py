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
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from rlhf_otel._errors import ValidationError
from rlhf_otel.analytics import (
    Engine,
    feedback_where,
    interaction_where,
    open_engine,
    require_duckdb,
)
from rlhf_otel.export._evaluators import evaluator_where
from rlhf_otel.export._options import ExportOptions, ExportReport, ProgressCallback
from rlhf_otel.export._parquet import require_pyarrow
from rlhf_otel.stores import Store

if TYPE_CHECKING:
    import pyarrow  # type: ignore[import-untyped]  # pyarrow ships no type information

__all__ = ["LAKE_COLUMNS", "LAKE_KINDS", "lake_schema", "lake_select", "write_lake"]

LAKE_KINDS: Final = ("interaction", "feedback")
"""The values of the ``kind=`` partition."""
_VIEW: Final = {"interaction": "interactions", "feedback": "feedback"}
_JSON: Final = "VARCHAR"  # JSON text: every engine reads it as a string
_MAP: Final = "MAP(VARCHAR, DOUBLE)"
LAKE_COLUMNS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "interaction": (
        ("id", "VARCHAR"), ("timestamp", "TIMESTAMPTZ"), ("prompt", "VARCHAR"),
        ("response", "VARCHAR"), ("model", "VARCHAR"), ("provider", "VARCHAR"),
        ("model_params", _JSON), ("latency_ms", "DOUBLE"), ("input_tokens", "BIGINT"),
        ("output_tokens", "BIGINT"), ("total_tokens", "BIGINT"), ("user_id", "VARCHAR"),
        ("session_id", "VARCHAR"), ("context", _JSON), ("metadata", _JSON),
        ("response_id", "VARCHAR"), ("finish_reasons", "VARCHAR[]"), ("error_type", "VARCHAR"),
        ("time_to_first_token_ms", "DOUBLE"), ("trace_id", "VARCHAR"), ("span_id", "VARCHAR"),
    ),
    "feedback": (
        ("id", "VARCHAR"), ("interaction_id", "VARCHAR"), ("type", "VARCHAR"),
        ("timestamp", "TIMESTAMPTZ"), ("user_id", "VARCHAR"), ("session_id", "VARCHAR"),
        ("source", "VARCHAR"), ("target_ids", "VARCHAR[]"), ("supersedes", "VARCHAR"),
        ("data", _JSON), ("value", "VARCHAR"), ("rating", "DOUBLE"), ("min_rating", "DOUBLE"),
        ("max_rating", "DOUBLE"), ("comment", "VARCHAR"), ("sentiment", "VARCHAR"),
        ("correction", "VARCHAR"), ("dimensions", _MAP), ("weights", _MAP),
        ("overall_comment", "VARCHAR"),
        ("preferred_response_id", "VARCHAR"), ("compared_response_ids", "VARCHAR[]"),
        ("reason", "VARCHAR"), ("confidence_level", "DOUBLE"), ("outcome", "VARCHAR"),
        ("metadata", _JSON),
        ("trace_id", "VARCHAR"), ("span_id", "VARCHAR"),
    ),
}  # fmt: skip
"""Each kind's Parquet columns and their DuckDB types: the views' columns less ``seq``
(JSON as text, ``dimensions``/``weights`` as maps). ``kind`` and ``date`` are in the path."""
_LOCK: Final = ".lake.lock"
_ROW_GROUP_ROWS: Final = 65536


def lake_schema(kind: str) -> pyarrow.Schema:
    """The Arrow schema of one kind's Parquet files (see ``LAKE_COLUMNS``).

    Args:
        kind: ``"interaction"`` or ``"feedback"``.
    """
    pa = require_pyarrow()
    s, f64, i64 = pa.string(), pa.float64(), pa.int64()
    arrow = {
        "VARCHAR": s, "DOUBLE": f64, "BIGINT": i64, "VARCHAR[]": pa.list_(s),
        "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"), _MAP: pa.map_(s, f64),
    }  # fmt: skip
    return pa.schema([(name, arrow[typ]) for name, typ in _columns(kind)])


def _columns(kind: str) -> tuple[tuple[str, str], ...]:
    if kind not in LAKE_COLUMNS:
        raise ValidationError(f"lake kind {kind!r} is unknown; allowed: interaction, feedback")
    return LAKE_COLUMNS[kind]


def lake_select(kind: str, opts: ExportOptions | None = None) -> tuple[str, list[Any]]:
    """The SQL (and its parameters) selecting one kind's lake columns from the engine's views.

    ``opts`` narrows it as it narrows every export: time range, user, session, feedback
    types, limit (the first records written).
    """
    opts = opts or ExportOptions()
    blank = () if opts.include_metadata else ("metadata",)
    cols = ", ".join(
        f"CAST({'NULL' if n in blank else _ident(n)} AS {t}) AS {_ident(n)}"
        for n, t in _columns(kind)
    )
    where = (
        interaction_where(opts.interaction_filter())
        if kind == "interaction"
        else feedback_where(opts.feedback_filter())
    )
    by_evaluator = evaluator_where(opts.evaluators)
    if kind != "interaction" and by_evaluator is not None:
        where.add(by_evaluator)
    sql = f"SELECT seq, {cols} FROM {_VIEW[kind]} {where.sql()}"
    if opts.limit is not None:
        sql += f" ORDER BY seq LIMIT {int(opts.limit)}"
    return sql, where.params


def _ident(name: str) -> str:
    return '"' + name + '"'


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


def _quote(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _copy_kind(
    eng: Engine, root: Path, stage: Path, kind: str, opts: ExportOptions
) -> tuple[int, int]:
    """Append one kind's new rows to the lake; ``(rows written, rows already there)``."""
    select, params = lake_select(kind, opts)
    con = eng.con
    # One pass over the store: the selection lands in the engine's own (disk) database,
    # then the id checks and the partitioned write read that compact copy.
    con.execute(f"CREATE OR REPLACE TEMP TABLE sel AS {select}", params)
    (selected, dupes) = con.execute(
        "SELECT count(*), count(*) - count(DISTINCT id) FROM sel"
    ).fetchone()
    if dupes:
        # a record stored twice (a retried batch) is written once: its first copy
        con.execute(
            "CREATE OR REPLACE TEMP TABLE sel AS SELECT * FROM sel "
            "QUALIFY row_number() OVER (PARTITION BY id ORDER BY seq) = 1"
        )
    existing = _existing(root, kind, opts.start_time)
    anti = ""
    if existing:
        listed = ", ".join(map(_quote, existing))
        anti = f"ANTI JOIN read_parquet([{listed}], hive_partitioning = false) AS o ON r.id = o.id"
    target = stage / f"kind={kind}"
    row = con.execute(
        f'COPY (SELECT r.* EXCLUDE (seq), CAST(r."timestamp" AS DATE) AS date FROM sel AS r '
        f"{anti}) TO {_quote(target)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date), "
        f"FILENAME_PATTERN 'part-{{uuid}}', ROW_GROUP_SIZE {_ROW_GROUP_ROWS})"
    ).fetchone()
    con.execute("DROP TABLE sel")
    written = int(row[0]) if row else 0
    _publish(root, target, kind)
    return written, int(selected) - int(dupes) - written


def _publish(root: Path, target: Path, kind: str) -> None:
    """Move staged files into the lake: owner-only, each appearing whole (rename)."""
    if not target.is_dir():
        return
    for part in sorted(target.iterdir()):
        dest = root / f"kind={kind}" / part.name
        for d in (dest.parent, dest):
            if not d.is_dir():
                d.mkdir(mode=0o700)
                os.chmod(d, 0o700)
        for f in sorted(part.iterdir()):
            os.chmod(f, 0o600)
            os.rename(f, dest / f.name)


def write_lake(
    store: Store,
    out: object,
    opts: ExportOptions,
    progress: ProgressCallback | None,
) -> ExportReport:
    """Append the records ``opts`` selects to the Parquet lake at ``out`` (a directory).

    ``report.rows`` counts rows written; ``report.used`` counts them by kind and
    ``report.skipped["already_in_lake"]`` the selected records whose id the lake held.
    """
    require_pyarrow()
    require_duckdb()
    root = _lake_root(out)
    report = ExportReport(format="parquet-lake", path=str(root))
    kinds: Sequence[str] = [
        k
        for k, on in zip(
            LAKE_KINDS, (opts.include_interactions, opts.include_feedback), strict=True
        )
        if on
    ]
    with _locked(root), open_engine(store) as eng:
        eng.con.execute("SET preserve_insertion_order = false")
        stage = root / f".staging-{uuid.uuid4().hex}"
        stage.mkdir(mode=0o700)
        os.chmod(stage, 0o700)
        try:
            for kind in kinds:
                written, known = _copy_kind(eng, root, stage, kind, opts)
                report.rows += written
                report.used[kind] += written
                report.skipped["already_in_lake"] += known
                if kind == "interaction":
                    report.interactions = written + known
                else:
                    report.feedback = written + known
                if progress is not None:
                    progress(report.interactions + report.feedback)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    return report
