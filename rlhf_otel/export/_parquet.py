"""Parquet output with typed schemas (needs the optional ``pyarrow``: ``rlhf-otel[parquet]``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import attrgetter
from typing import IO, TYPE_CHECKING, Any, Final

from rlhf_otel._errors import RLHFError
from rlhf_otel.export._options import ExportOptions, ExportReport, ProgressCallback
from rlhf_otel.export._records import iter_feedback, iter_interactions
from rlhf_otel.records import ExportFormat, Feedback, Interaction
from rlhf_otel.stores import Store

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


def record_schema(include_metadata: bool = True) -> pyarrow.Schema:
    """The typed schema of a record export: one row per interaction or feedback (``kind``)."""
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
    return pa.schema([(n, t) for n, t in fields if include_metadata or n != "metadata"])


_encode = json.JSONEncoder(ensure_ascii=False, default=repr).encode
_CONVERT_ERRORS: tuple[type[BaseException], ...] = (TypeError, ValueError, OverflowError)


def _json_map(value: Mapping[str, Any]) -> str | None:
    if not value:
        return None
    return _encode(value if type(value) is dict else dict(value))


def _json_messages(value: Sequence[Mapping[str, Any]]) -> str | None:
    if not value:
        return None
    return _encode([m if type(m) is dict else dict(m) for m in value])


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _pairs(value: object) -> list[tuple[str, float]] | None:
    if not isinstance(value, Mapping):
        return None
    return [(str(k), float(v)) for k, v in value.items()]


def _array(pa: Any, values: list[Any], typ: Any, fix: Callable[[Any], Any] | None = None) -> Any:
    """One Arrow array from a column of Python values, converted in bulk.

    Values the bulk conversion refuses (a number stored as text, say) go through ``fix``
    one by one, so odd records cost time only in the batches that hold them.
    """
    if fix is None:
        return pa.array(values, type=typ)
    try:
        return pa.array(values, type=typ)
    except (*_CONVERT_ERRORS, pa.ArrowException):
        return pa.array([fix(v) for v in values], type=typ)


def _kind_array(pa: Any, kind: str, n: int, typ: Any) -> Any:
    indices = pa.array([0] * n, type=pa.int8())
    return pa.DictionaryArray.from_arrays(indices, pa.array([kind], type=typ.value_type))


def _interaction_columns(pa: Any, batch: list[Interaction]) -> dict[str, Any]:
    """Typed arrays of a batch of interactions, one column at a time."""
    s, f64, i64 = pa.string(), pa.float64(), pa.int64()

    def col(name: str) -> list[Any]:
        return list(map(attrgetter(name), batch))

    usage = col("token_usage")
    return {
        "id": pa.array(col("id"), type=s),
        "timestamp": pa.array(col("timestamp"), type=pa.timestamp("us", tz="UTC")),
        "prompt": pa.array(col("prompt"), type=s),
        "response": pa.array(col("response"), type=s),
        "model": pa.array(col("model"), type=s),
        "provider": pa.array(col("provider"), type=s),
        "model_params": pa.array(list(map(_json_map, col("model_params"))), type=s),
        "latency_ms": _array(pa, col("latency_ms"), f64, _float),
        "input_tokens": pa.array([None if u is None else u.prompt for u in usage], type=i64),
        "output_tokens": pa.array([None if u is None else u.completion for u in usage], type=i64),
        "total_tokens": pa.array([None if u is None else u.total for u in usage], type=i64),
        "user_id": pa.array(col("user_id"), type=s),
        "session_id": pa.array(col("session_id"), type=s),
        "context": pa.array(list(map(_json_messages, col("context"))), type=s),
        "response_id": pa.array(col("response_id"), type=s),
        "finish_reasons": _array(pa, col("finish_reasons"), pa.list_(s), list),
        "error_type": pa.array(col("error_type"), type=s),
        "time_to_first_token_ms": _array(pa, col("time_to_first_token_ms"), f64, _float),
        "trace_id": pa.array(col("trace_id"), type=s),
        "span_id": pa.array(col("span_id"), type=s),
        "metadata": pa.array(list(map(_json_map, col("metadata"))), type=s),
    }


def _feedback_columns(pa: Any, batch: list[Feedback]) -> dict[str, Any]:
    """Typed arrays of a batch of feedback, one column at a time."""
    s, f64 = pa.string(), pa.float64()
    data = [fb.data for fb in batch]

    def col(name: str) -> list[Any]:
        return list(map(attrgetter(name), batch))

    def field(key: str) -> list[Any]:
        return [d.get(key) for d in data]

    def pairs(key: str) -> Any:
        values = [None if (v := d.get(key)) is None else _pairs(v) for d in data]
        return pa.array(values, type=pa.map_(s, f64))

    compared = [None if (v := d.get("compared_response_ids")) is None else list(v) for d in data]
    comments = [
        d.get("comment") or d.get("overall_comment") or d.get("reason") or None for d in data
    ]
    return {
        "id": pa.array(col("id"), type=s),
        "timestamp": pa.array(col("timestamp"), type=pa.timestamp("us", tz="UTC")),
        "user_id": pa.array(col("user_id"), type=s),
        "session_id": pa.array(col("session_id"), type=s),
        "trace_id": pa.array(col("trace_id"), type=s),
        "span_id": pa.array(col("span_id"), type=s),
        "interaction_id": pa.array(col("interaction_id"), type=s),
        "type": pa.array([fb.type.value for fb in batch], type=pa.dictionary(pa.int8(), s)),
        "source": pa.array(col("source"), type=s),
        "target_ids": _array(pa, col("target_ids"), pa.list_(s), list),
        "value": pa.array(field("value"), type=s),
        "rating": _array(pa, field("rating"), f64, _float),
        "min_rating": _array(pa, field("min_rating"), f64, _float),
        "max_rating": _array(pa, field("max_rating"), f64, _float),
        "comment": pa.array(comments, type=s),
        "sentiment": pa.array(field("sentiment"), type=s),
        "dimensions": pairs("dimensions"),
        "weights": pairs("weights"),
        "preferred_response_id": pa.array(field("preferred_response_id"), type=s),
        "compared_response_ids": pa.array(compared, type=pa.list_(s)),
        "confidence_level": _array(pa, field("confidence_level"), f64, _float),
        "metadata": pa.array(list(map(_json_map, col("metadata"))), type=s),
    }


def _write_record_batches(
    fh: IO[bytes], schema: pyarrow.Schema, records: Iterable[Interaction | Feedback]
) -> int:
    """Write records in batches of one kind, each column built in bulk, the rest null."""
    pa = require_pyarrow()
    written = 0
    with pa.parquet.ParquetWriter(fh, schema, compression="zstd") as writer:

        def flush(batch: list[Any]) -> None:
            n = len(batch)
            if isinstance(batch[0], Interaction):
                kind, cols = "interaction", _interaction_columns(pa, batch)
            else:
                kind, cols = "feedback", _feedback_columns(pa, batch)
            cols["kind"] = _kind_array(pa, kind, n, schema.field("kind").type)
            arrays = [cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in schema]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))

        batch: list[Any] = []
        for record in records:
            if batch and (len(batch) == BATCH_ROWS or type(record) is not type(batch[0])):
                flush(batch)
                batch = []
            batch.append(record)
            written += 1
        if batch:
            flush(batch)
        else:
            writer.write_batch(
                pa.RecordBatch.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)
            )
    return written


def _write_rows(fh: IO[bytes], schema: pyarrow.Schema, rows: Iterable[dict[str, Any]]) -> int:
    """Write dict rows (every key a schema field) in batches, column by column."""
    pa = require_pyarrow()
    written = 0
    with pa.parquet.ParquetWriter(fh, schema, compression="zstd") as writer:

        def flush(batch: list[dict[str, Any]]) -> None:
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


def write_parquet_records(
    fh: IO[bytes],
    store: Store,
    opts: ExportOptions,
    report: ExportReport,
    progress: ProgressCallback | None,
) -> None:
    """Interactions then feedback, one typed row each, in row groups of 16,384 rows."""
    schema = record_schema(opts.include_metadata)

    def records() -> Iterator[Interaction | Feedback]:
        if opts.include_interactions:
            yield from iter_interactions(store, opts, report, progress)
        if opts.include_feedback:
            yield from iter_feedback(store, opts, report, progress)

    report.rows = _write_record_batches(fh, schema, records())


def training_schema(fmt: ExportFormat, conversational: bool) -> pyarrow.Schema:
    """The schema of a training set, as TRL's trainers read it."""
    pa = require_pyarrow()
    s = pa.string()
    text = pa.list_(pa.struct([("role", s), ("content", s)])) if conversational else s
    messages = pa.list_(pa.struct([("role", s), ("content", s)]))
    if fmt is ExportFormat.DPO:
        return pa.schema([("prompt", text), ("chosen", text), ("rejected", text)])
    if fmt is ExportFormat.REWARD:
        fields = [("prompt", text), ("chosen", text), ("rejected", text)]
        return pa.schema([*fields, ("margin", pa.float64())])
    if fmt is ExportFormat.KTO:
        return pa.schema([("prompt", text), ("completion", text), ("label", pa.bool_())])
    return pa.schema([("messages", messages)])


def write_parquet_rows(
    fh: IO[bytes], fmt: ExportFormat, conversational: bool, rows: Iterable[dict[str, Any]]
) -> int:
    """Write training rows; returns how many."""
    return _write_rows(fh, training_schema(fmt, conversational), rows)
