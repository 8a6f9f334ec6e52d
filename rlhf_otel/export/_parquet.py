"""Parquet output with typed schemas (needs the optional ``pyarrow``: ``rlhf-otel[parquet]``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, Final

from rlhf_otel._errors import RLHFError
from rlhf_otel._model import ExportFormat, Feedback, Interaction
from rlhf_otel.export._options import ExportOptions, ExportReport, ProgressCallback
from rlhf_otel.export._records import iter_feedback, iter_interactions
from rlhf_otel.stores._protocol import Store

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

BATCH_ROWS: Final = 8192


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


def _json(value: object) -> str | None:
    return json.dumps(value, ensure_ascii=False, default=repr) if value else None


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _pairs(value: object) -> list[tuple[str, float]] | None:
    if not isinstance(value, Mapping):
        return None
    return [(str(k), float(v)) for k, v in value.items()]


def _interaction_row(it: Interaction) -> dict[str, Any]:
    u = it.token_usage
    return {
        "kind": "interaction", "id": it.id, "timestamp": it.timestamp,
        "prompt": it.prompt, "response": it.response, "model": it.model,
        "provider": it.provider, "model_params": _json(dict(it.model_params)),
        "latency_ms": _float(it.latency_ms),
        "input_tokens": None if u is None else u.prompt,
        "output_tokens": None if u is None else u.completion,
        "total_tokens": None if u is None else u.total,
        "user_id": it.user_id, "session_id": it.session_id,
        "context": _json([dict(m) for m in it.context]),
        "response_id": it.response_id, "finish_reasons": list(it.finish_reasons),
        "error_type": it.error_type, "time_to_first_token_ms": _float(it.time_to_first_token_ms),
        "trace_id": it.trace_id, "span_id": it.span_id,
        "metadata": _json(dict(it.metadata)),
    }  # fmt: skip


def _feedback_row(fb: Feedback) -> dict[str, Any]:
    d = fb.data
    comment = next((d[k] for k in ("comment", "overall_comment", "reason") if d.get(k)), None)
    return {
        "kind": "feedback", "id": fb.id, "timestamp": fb.timestamp,
        "user_id": fb.user_id, "session_id": fb.session_id,
        "trace_id": fb.trace_id, "span_id": fb.span_id,
        "interaction_id": fb.interaction_id, "type": fb.type.value, "source": fb.source,
        "target_ids": list(fb.target_ids),
        "value": d.get("value"), "rating": _float(d.get("rating")),
        "min_rating": _float(d.get("min_rating")), "max_rating": _float(d.get("max_rating")),
        "comment": comment, "sentiment": d.get("sentiment"),
        "dimensions": _pairs(d.get("dimensions")), "weights": _pairs(d.get("weights")),
        "preferred_response_id": d.get("preferred_response_id"),
        "compared_response_ids": None
        if d.get("compared_response_ids") is None
        else list(d["compared_response_ids"]),
        "confidence_level": _float(d.get("confidence_level")),
        "metadata": _json(dict(fb.metadata)),
    }  # fmt: skip


def _write_batches(fh: IO[bytes], schema: pyarrow.Schema, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows in batches; a batch holds rows of one ``kind``, the other columns null."""
    pa = require_pyarrow()
    pq = pa.parquet
    written = 0
    cols: dict[str, list[Any]] = {}
    size = 0
    tag: object = None

    def flush() -> None:
        arrays = [
            pa.array(cols[f.name], type=f.type) if f.name in cols else pa.nulls(size, f.type)
            for f in schema
        ]
        writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))

    with pq.ParquetWriter(fh, schema, compression="zstd") as writer:
        for row in rows:
            row_tag = row.get("kind")
            if size == BATCH_ROWS or row_tag != tag or not cols:
                if size:
                    flush()
                tag, size = row_tag, 0
                cols = {k: [] for k in row}
            for k, v in row.items():
                cols[k].append(v)
            size += 1
            written += 1
        if size or not written:
            if not written:
                cols = {f.name: [] for f in schema}
            flush()
    return written


def write_parquet_records(
    fh: IO[bytes],
    store: Store,
    opts: ExportOptions,
    report: ExportReport,
    progress: ProgressCallback | None,
) -> None:
    """Interactions then feedback, one typed row each, in row groups of a few thousand."""
    schema = record_schema(opts.include_metadata)

    def rows() -> Iterator[dict[str, Any]]:
        if opts.include_interactions:
            for it in iter_interactions(store, opts, report, progress):
                yield _interaction_row(it)
        if opts.include_feedback:
            for fb in iter_feedback(store, opts, report, progress):
                yield _feedback_row(fb)

    report.rows = _write_batches(fh, schema, rows())


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
    return _write_batches(fh, training_schema(fmt, conversational), rows)
