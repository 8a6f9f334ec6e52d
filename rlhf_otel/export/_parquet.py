"""Parquet output with typed schemas (needs the optional ``pyarrow``: ``rlhf-otel[parquet]``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any, Final

from rlhf_otel._errors import RLHFError
from rlhf_otel._redact import replace_surrogates_deep
from rlhf_otel.analytics import Engine, arrow_batches
from rlhf_otel.export._evaluators import EVALUATOR_TYPE_SQL
from rlhf_otel.export._options import ExportOptions, ExportReport, ProgressCallback
from rlhf_otel.export._select import (
    FEEDBACK_SQL_COLUMNS,
    INTERACTION_SQL_COLUMNS,
    feedback_query,
    interaction_query,
)
from rlhf_otel.records import ExportFormat, json_default

if TYPE_CHECKING:
    import pyarrow  # type: ignore[import-untyped]  # pyarrow ships no type information

__all__ = [
    "ParquetUnavailableError",
    "record_schema",
    "require_pyarrow",
    "training_schema",
    "write_parquet_records",
    "write_parquet_rows",
]

BATCH_ROWS: Final = 16384


class ParquetUnavailableError(RLHFError, ImportError):
    """Parquet output was asked for but ``pyarrow`` is not installed."""


def require_pyarrow() -> Any:
    """The ``pyarrow`` module, or a :class:`ParquetUnavailableError` saying how to get it."""
    try:
        import pyarrow
        import pyarrow.parquet  # type: ignore[import-untyped]  # noqa: F401  # no stubs
    except ImportError as exc:
        raise ParquetUnavailableError(
            "Parquet export needs pyarrow, which is not installed: "
            "pip install 'rlhf-otel[parquet]' (or choose format json, jsonl or csv)"
        ) from exc
    return pyarrow


def record_schema(include_metadata: bool = True, *, evaluator_type: bool = False) -> pyarrow.Schema:
    """The typed schema of a record export: one row per interaction or feedback (``kind``);
    ``evaluator_type`` adds that column (exports with ``evaluators`` ``model`` or ``all``)."""
    pa = require_pyarrow()
    s, f64, i64 = pa.string(), pa.float64(), pa.int64()
    fields = [
        ("kind", pa.dictionary(pa.int8(), s)),
        ("id", s),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("prompt", s), ("response", s), ("model", s), ("provider", s),
        ("model_params", s), ("latency_ms", f64),
        ("input_tokens", i64), ("output_tokens", i64), ("total_tokens", i64),
        ("user_id", s), ("session_id", s), ("context", s),
        ("response_id", s), ("finish_reasons", pa.list_(s)), ("error_type", s),
        ("time_to_first_token_ms", f64), ("trace_id", s), ("span_id", s),
        ("interaction_id", s), ("type", pa.dictionary(pa.int8(), s)), ("source", s),
        ("target_ids", pa.list_(s)),
        ("value", s), ("rating", f64), ("min_rating", f64), ("max_rating", f64),
        ("comment", s), ("sentiment", s),
        ("dimensions", pa.map_(s, f64)), ("weights", pa.map_(s, f64)),
        ("preferred_response_id", s), ("compared_response_ids", pa.list_(s)),
        ("confidence_level", f64),
        ("metadata", s),
    ]  # fmt: skip
    if evaluator_type:
        fields.append(("evaluator_type", s))
    return pa.schema([(n, t) for n, t in fields if include_metadata or n != "metadata"])


_encode = json.JSONEncoder(ensure_ascii=False, default=json_default).encode


def _json_text(text: str | None) -> str | None:
    """Stored JSON as the record export writes it: ``None`` when empty, else re-encoded."""
    if text is None:
        return None
    value = json.loads(text)
    return _encode(value) if value else None


def _pairs(text: str | None) -> list[tuple[str, float]] | None:
    if text is None:
        return None
    value = json.loads(text)
    if not isinstance(value, dict):
        return None
    return [(str(k), float(v)) for k, v in value.items()]


_JSON_COLUMNS: Final = frozenset({"model_params", "context", "metadata"})
_MAP_COLUMNS: Final = frozenset({"dimensions", "weights"})


def _kind_array(pa: Any, kind: str, n: int, typ: Any) -> Any:
    indices = pa.array([0] * n, type=pa.int8())
    return pa.DictionaryArray.from_arrays(indices, pa.array([kind], type=typ.value_type))


def _write_kind(
    pa: Any, writer: Any, schema: Any, kind: str, cur: Any, report: ExportReport,
    progress: ProgressCallback | None,
) -> int:  # fmt: skip
    """Batches of one kind from an engine cursor: typed columns, JSON re-encoded, rest null."""
    written = 0
    reader = arrow_batches(cur, BATCH_ROWS)
    kind_type = schema.field("kind").type
    for batch in reader:
        n = batch.num_rows
        if not n:
            continue
        cols: dict[str, Any] = {}
        for name in batch.schema.names:
            col = batch.column(name)
            if name in _JSON_COLUMNS:
                texts = [_json_text(v) for v in col.to_pylist()]
                try:
                    cols[name] = pa.array(texts, type=pa.string())
                except UnicodeEncodeError:  # a lone surrogate already in the store: U+FFFD
                    cols[name] = pa.array(replace_surrogates_deep(texts), type=pa.string())
            elif name in _MAP_COLUMNS:
                cols[name] = pa.array(
                    [_pairs(v) for v in col.to_pylist()], type=schema.field(name).type
                )
            elif name in schema.names:
                cols[name] = col.cast(schema.field(name).type)
        cols["kind"] = _kind_array(pa, kind, n, kind_type)
        arrays = [cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in schema]
        writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
        written += n
        if kind == "interaction":
            report.interactions += n
        else:
            report.feedback += n
        if progress is not None:
            progress(report.interactions + report.feedback)
    return written


def write_parquet_records(
    fh: IO[bytes],
    eng: Engine,
    opts: ExportOptions,
    report: ExportReport,
    progress: ProgressCallback | None,
) -> None:
    """Interactions then feedback, one typed row each, in row groups of 16,384 rows."""
    pa = require_pyarrow()
    by_evaluator = opts.evaluators != "human"
    schema = record_schema(opts.include_metadata, evaluator_type=by_evaluator)
    fb_columns = FEEDBACK_SQL_COLUMNS[:-1] + ((EVALUATOR_TYPE_SQL,) if by_evaluator else ())
    written = 0
    with pa.parquet.ParquetWriter(fh, schema, compression="zstd") as writer:
        if opts.include_interactions and opts.limit != 0:
            cur = eng.relation(
                *interaction_query(eng, opts.interaction_filter(), INTERACTION_SQL_COLUMNS)
            )
            written += _write_kind(pa, writer, schema, "interaction", cur, report, progress)
        if opts.include_feedback and opts.limit != 0:
            cur = eng.relation(
                *feedback_query(eng, opts.feedback_filter(), fb_columns, opts.evaluators)
            )
            written += _write_kind(pa, writer, schema, "feedback", cur, report, progress)
        if not written:
            writer.write_batch(
                pa.RecordBatch.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)
            )
    report.rows = written


def _write_rows(fh: IO[bytes], schema: pyarrow.Schema, rows: Iterable[dict[str, Any]]) -> int:
    """Write dict rows (every key a schema field) in batches, column by column."""
    pa = require_pyarrow()
    written = 0
    with pa.parquet.ParquetWriter(fh, schema, compression="zstd") as writer:

        def flush(batch: list[dict[str, Any]]) -> None:
            try:
                arrays = [pa.array([row.get(f.name) for row in batch], type=f.type) for f in schema]
            except UnicodeEncodeError:  # a lone surrogate already in the store: U+FFFD
                batch = replace_surrogates_deep(batch)
                arrays = [pa.array([row.get(f.name) for row in batch], type=f.type) for f in schema]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))

        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            written += 1
            if len(batch) == BATCH_ROWS:
                flush(batch)
                batch = []
        if batch or not written:
            flush(batch)
    return written


def training_schema(
    fmt: ExportFormat, conversational: bool, *, evaluator: bool = False
) -> pyarrow.Schema:
    """The schema of a training set, as TRL's trainers read it; ``evaluator`` adds that
    column (exports with ``evaluators`` ``model`` or ``all``)."""
    pa = require_pyarrow()
    s = pa.string()
    text = pa.list_(pa.struct([("role", s), ("content", s)])) if conversational else s
    messages = pa.list_(pa.struct([("role", s), ("content", s)]))
    if fmt is ExportFormat.DPO:
        fields = [("prompt", text), ("chosen", text), ("rejected", text)]
    elif fmt is ExportFormat.REWARD:
        fields = [("prompt", text), ("chosen", text), ("rejected", text)]
        fields.append(("margin", pa.float64()))
    elif fmt is ExportFormat.KTO:
        fields = [("prompt", text), ("completion", text), ("label", pa.bool_())]
    else:
        fields = [("messages", messages)]
    if evaluator:
        fields.append(("evaluator", s))
    return pa.schema(fields)


def write_parquet_rows(
    fh: IO[bytes],
    fmt: ExportFormat,
    conversational: bool,
    rows: Iterable[dict[str, Any]],
    *,
    evaluator: bool = False,
) -> int:
    """Write training rows; returns how many."""
    return _write_rows(fh, training_schema(fmt, conversational, evaluator=evaluator), rows)
