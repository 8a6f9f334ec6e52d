"""``export_feedback``: every format, to memory, a path or a stream."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any, overload

from rlhf_otel._errors import ValidationError
from rlhf_otel.analytics import Engine
from rlhf_otel.export._lake import write_lake
from rlhf_otel.export._options import (
    TRAINING_FORMATS,
    ExportOptions,
    ExportReport,
    ProgressCallback,
    coerce_format,
    with_fields,
)
from rlhf_otel.export._parquet import require_pyarrow, write_parquet_records, write_parquet_rows
from rlhf_otel.export._records import write_csv, write_json, write_jsonl
from rlhf_otel.export._sinks import OutTarget, binary_sink, describe, text_sink
from rlhf_otel.export._training import TrainingRows
from rlhf_otel.recording import dumps
from rlhf_otel.records import ExportFormat
from rlhf_otel.stores import Store

__all__ = ["export_feedback"]

_WRITERS = {
    ExportFormat.JSON: write_json,
    ExportFormat.JSONL: write_jsonl,
    ExportFormat.CSV: write_csv,
}


@overload
def export_feedback(
    store: Store,
    format: ExportFormat | str,
    options: ExportOptions | None = None,
    *,
    out: None = None,
    progress: ProgressCallback | None = None,
    **fields: Any,
) -> str | bytes: ...


@overload
def export_feedback(
    store: Store,
    format: ExportFormat | str,
    options: ExportOptions | None = None,
    *,
    out: OutTarget,
    progress: ProgressCallback | None = None,
    **fields: Any,
) -> ExportReport: ...


def export_feedback(
    store: Store,
    format: ExportFormat | str,
    options: ExportOptions | None = None,
    *,
    out: OutTarget | None = None,
    progress: ProgressCallback | None = None,
    **fields: Any,
) -> str | bytes | ExportReport:
    """Export records or a training set from ``store``.

    Record formats: ``json`` (one document, pretty-printed by default), ``jsonl`` (one
    schema record per line, ``kind`` and the feedback ``type`` kept), ``csv`` (RFC 4180,
    formula cells neutralised), ``parquet`` (typed columns). Training formats: ``dpo``,
    ``kto``, ``reward``, ``sft`` (rows as TRL reads them; JSONL, or Parquet with
    ``container="parquet"`` or an ``out`` ending in ``.parquet``). ``parquet-lake`` appends
    to the Hive-partitioned Parquet lake in the directory ``out`` (needs
    ``rlhf-otel[analytics]``; see :func:`lake_schema`) and returns its report.

    Args:
        store: any :class:`~rlhf_otel.stores.Store`.
        format: an :class:`~rlhf_otel.ExportFormat` or its value.
        out: ``None`` returns the export (``str``, or ``bytes`` for Parquet); a path (written
            atomically) or a text/binary stream streams it with bounded memory and returns
            an :class:`ExportReport`.
        options: every option at once (:class:`ExportOptions`), passed whole to the writer.
        fields: :class:`ExportOptions` fields by name (``feedback_types=["rating"]``,
            ``limit=10``, ...), each overriding ``options``; ``None`` leaves it as it is.
        progress: called with the number of records read so far, every 10,000 records.
            If it also has a ``rows(n)`` method, training formats call that with the rows
            written so far, every 10,000 rows, while pairing (which may outlast the read).

    Raises:
        ValidationError: an unknown format, an unknown option name or a bad option (the
            message says what is allowed).
        ParquetUnavailableError: Parquet asked for without ``pyarrow`` installed.
        AnalyticsUnavailableError: ``parquet-lake`` asked for without ``duckdb`` installed.
    """
    fmt = coerce_format(format)
    opts = with_fields(options or ExportOptions(), fields)
    if opts.pretty_print and fmt is not ExportFormat.JSON:
        raise ValidationError(f"pretty_print applies to json only, not {fmt.value}")
    if opts.container is not None and fmt not in TRAINING_FORMATS:
        raise ValidationError(
            f"container applies to training formats (dpo, kto, reward, sft), not {fmt.value}"
        )
    holder: list[str | bytes] = []
    report = _run(store, fmt, opts, out, holder, progress)
    if out is None:
        return holder[0]
    report.path = describe(out)
    return report


def _run(
    store: Store,
    fmt: ExportFormat,
    opts: ExportOptions,
    out: OutTarget | None,
    holder: list[str | bytes],
    progress: ProgressCallback | None,
) -> ExportReport:
    if fmt is ExportFormat.PARQUET_LAKE:
        return write_lake(store, out, opts, progress)
    if fmt in TRAINING_FORMATS:
        return _run_training(store, fmt, opts, out, holder, progress)
    report = ExportReport(format=fmt.value)
    if fmt is ExportFormat.PARQUET:
        require_pyarrow()
    with Engine(store) as eng:
        if fmt is ExportFormat.PARQUET:
            with binary_sink(out, holder) as bfh:
                start = _tell(bfh)
                write_parquet_records(bfh, eng, opts, report, progress)
                report.bytes_written = _delta(bfh, start)
        else:
            with text_sink(out, holder) as tfh:
                _WRITERS[fmt](tfh, eng, opts, report, progress)
    return report


def _run_training(
    store: Store,
    fmt: ExportFormat,
    opts: ExportOptions,
    out: OutTarget | None,
    holder: list[str | bytes],
    progress: ProgressCallback | None,
) -> ExportReport:
    container = opts.container
    if container is None:
        path = describe(out)
        container = "parquet" if path is not None and path.endswith(".parquet") else "jsonl"
    if container == "parquet":
        require_pyarrow()
    rows = TrainingRows(store, fmt, opts, progress)
    rows.prepare()
    try:
        if container == "parquet":
            with binary_sink(out, holder) as bfh:
                start = _tell(bfh)
                write_parquet_rows(
                    bfh, fmt, rows.conversational, rows, evaluator=opts.evaluators != "human"
                )
                rows.report.bytes_written = _delta(bfh, start)
        else:
            with text_sink(out, holder) as tfh:
                write = tfh.write
                encode = _row_encoder(fmt)
                for row in rows:
                    write(encode(row) + "\n")
    finally:
        rows.close()
    return rows.report


def _row_encoder(fmt: ExportFormat) -> Callable[[dict[str, Any]], str]:
    """``dumps`` for one training row, by orjson where it writes the same text: rows of
    strings and booleans (orjson writes floats differently: reward rows keep ``dumps``)."""
    try:
        import orjson
    except ImportError:
        return dumps
    if fmt is ExportFormat.REWARD:
        return dumps
    fast = orjson.dumps

    def encode(row: dict[str, Any]) -> str:
        try:
            return fast(row).decode()
        except TypeError:  # a lone surrogate (or any odd value): dumps takes anything
            return dumps(row)

    return encode


def _tell(fh: IO[bytes]) -> int | None:
    try:
        return fh.tell()
    except (OSError, AttributeError, ValueError):
        return None


def _delta(fh: IO[bytes], start: int | None) -> int | None:
    end = _tell(fh)
    return None if start is None or end is None else end - start
