"""Record exports: JSON, JSONL and CSV, streamed one record at a time."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO, Any, Final

from rlhf_otel.analytics import Engine
from rlhf_otel.export._options import ExportOptions, ExportReport, ProgressCallback
from rlhf_otel.export._select import iter_feedback, iter_interactions
from rlhf_otel.recording import dumps, evaluator_type
from rlhf_otel.records import (
    SCHEMA_VERSION,
    Feedback,
    Interaction,
    feedback_to_dict,
    format_timestamp,
    interaction_to_dict,
    json_default,
    utc_now,
)

__all__ = [
    "CSV_COLUMNS",
    "neutralize_cell",
    "unescape_csv_cell",
    "write_csv",
    "write_json",
    "write_jsonl",
]

_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r", "'")


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=json_default).encode


def _interaction_dict(it: Interaction, opts: ExportOptions) -> dict[str, Any]:
    d = interaction_to_dict(it)
    if not opts.include_metadata:
        del d["metadata"]
    return d


def _feedback_dict(fb: Feedback, opts: ExportOptions) -> dict[str, Any]:
    d = feedback_to_dict(fb)
    if not opts.include_metadata:
        del d["metadata"]
    if opts.evaluators != "human":
        d["evaluator_type"] = evaluator_type(fb.source)
    return d


def _header(opts: ExportOptions) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "exported_at": format_timestamp(utc_now()),
        "time_range": {
            "start": None if opts.start_time is None else format_timestamp(opts.start_time),
            "end": None if opts.end_time is None else format_timestamp(opts.end_time),
        },
        "filters": {
            "feedback_types": None
            if opts.feedback_types is None
            else [t.value for t in opts.types() or ()],
            "user_id": opts.user_id,
            "session_id": opts.session_id,
            "limit": opts.limit,
            "include_metadata": opts.include_metadata,
        },
    }


def write_json(
    fh: IO[str],
    eng: Engine,
    opts: ExportOptions,
    report: ExportReport,
    progress: ProgressCallback | None,
) -> None:
    """One JSON document: header fields, then ``interactions`` and ``feedback`` arrays."""
    pretty = True if opts.pretty_print is None else opts.pretty_print
    ind, nl, sep = ("  ", "\n", ": ") if pretty else ("", "", ":")

    def dump(value: Any, depth: int) -> str:
        if not pretty:
            return _encode(value)
        text = json.dumps(value, ensure_ascii=False, indent=2, default=json_default)
        return text.replace("\n", "\n" + ind * depth)

    fh.write("{" + nl)
    first = True
    for key, value in _header(opts).items():
        fh.write(("" if first else "," + nl) + ind + json.dumps(key) + sep + dump(value, 1))
        first = False

    def array(name: str, rows: Iterator[dict[str, Any]]) -> None:
        fh.write("," + nl + ind + json.dumps(name) + sep + "[")
        n = 0
        for row in rows:
            fh.write(("," if n else "") + nl + ind * 2 + dump(row, 2))
            n += 1
        fh.write((nl + ind if n else "") + "]")

    if opts.include_interactions:
        its = iter_interactions(eng, opts, report, progress)
        array("interactions", (_interaction_dict(it, opts) for it in its))
    if opts.include_feedback:
        array(
            "feedback",
            (_feedback_dict(fb, opts) for fb in iter_feedback(eng, opts, report, progress)),
        )
    counts = {"interactions": report.interactions, "feedback": report.feedback}
    fh.write("," + nl + ind + '"counts"' + sep + dump(counts, 1) + nl + "}\n")
    report.rows = report.interactions + report.feedback


def write_jsonl(
    fh: IO[str],
    eng: Engine,
    opts: ExportOptions,
    report: ExportReport,
    progress: ProgressCallback | None,
) -> None:
    """One schema record per line (``kind`` says which, feedback keeps its ``type``)."""
    write = fh.write
    if opts.include_interactions:
        for it in iter_interactions(eng, opts, report, progress):
            write(_encode(_interaction_dict(it, opts)) + "\n")
    if opts.include_feedback:
        for fb in iter_feedback(eng, opts, report, progress):
            write(_encode(_feedback_dict(fb, opts)) + "\n")
    report.rows = report.interactions + report.feedback


CSV_COLUMNS: Final = (
    "kind", "id", "timestamp", "interaction_id", "type", "user_id", "session_id", "source",
    "model", "provider", "prompt", "response", "latency_ms", "input_tokens", "output_tokens",
    "total_tokens", "comment", "data", "context", "model_params", "target_ids", "metadata",
)  # fmt: skip


def neutralize_cell(value: str) -> str:
    """Prefix ``'`` to a text cell a spreadsheet would run as a formula (OWASP's advice).

    Applied to text only: numbers we write (latency, tokens) stay numbers. Text already
    starting with ``'`` gets one more, so :func:`unescape_csv_cell` is exact.
    """
    if value.startswith(_FORMULA_START):
        return "'" + value
    return value


def unescape_csv_cell(value: str) -> str:
    """Undo :func:`neutralize_cell`: the original text of a cell read back from our CSV."""
    if value.startswith("'") and len(value) > 1 and value[1] in "=+-@\t\r'":
        return value[1:]
    return value


def _comment(fb: Feedback) -> str | None:
    d = fb.data
    for key in ("comment", "overall_comment", "reason"):
        if isinstance(d.get(key), str):
            return str(d[key])
    return None


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return dumps(value)


def write_csv(
    fh: IO[str],
    eng: Engine,
    opts: ExportOptions,
    report: ExportReport,
    progress: ProgressCallback | None,
) -> None:
    """RFC 4180 CSV (CRLF rows, quoted where needed): one header, one row per record."""
    columns = [c for c in CSV_COLUMNS if opts.include_metadata or c != "metadata"]
    if opts.evaluators != "human":
        columns.append("evaluator_type")
    writer = csv.writer(fh, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    safe = neutralize_cell if opts.neutralize_formulas else (lambda s: s)

    def emit(row: dict[str, object]) -> None:
        writer.writerow(
            [safe(v) if isinstance(v := row.get(c), str) else _cell(v) for c in columns]
        )

    if opts.include_interactions:
        for it in iter_interactions(eng, opts, report, progress):
            usage = it.token_usage
            emit({
                "kind": "interaction", "id": it.id, "timestamp": format_timestamp(it.timestamp),
                "user_id": it.user_id, "session_id": it.session_id, "model": it.model,
                "provider": it.provider, "prompt": it.prompt, "response": it.response,
                "latency_ms": it.latency_ms,
                "input_tokens": None if usage is None else usage.prompt,
                "output_tokens": None if usage is None else usage.completion,
                "total_tokens": None if usage is None else usage.total,
                "context": [dict(m) for m in it.context] if it.context else None,
                "model_params": dict(it.model_params) if it.model_params else None,
                "metadata": dict(it.metadata) if it.metadata else None,
            })  # fmt: skip
    if opts.include_feedback:
        for fb in iter_feedback(eng, opts, report, progress):
            emit({
                "kind": "feedback", "id": fb.id, "timestamp": format_timestamp(fb.timestamp),
                "interaction_id": fb.interaction_id, "type": fb.type.value,
                "user_id": fb.user_id, "session_id": fb.session_id, "source": fb.source,
                "comment": _comment(fb), "data": dict(fb.data),
                "target_ids": list(fb.target_ids) if fb.target_ids else None,
                "metadata": dict(fb.metadata) if fb.metadata else None,
                "evaluator_type": evaluator_type(fb.source),
            })  # fmt: skip
    report.rows = report.interactions + report.feedback
