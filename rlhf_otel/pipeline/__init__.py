"""The pipeline: the record queue our producers feed (records to a store), the exporter
and processors for spans we did not record ourselves, OTLP out.

Example (OTLP to a collector by hand, beside a logger's own pipeline)::

    from rlhf_otel.pipeline import OTLPSpanProcessor, build_otlp_exporter

    provider.add_span_processor(OTLPSpanProcessor(build_otlp_exporter("http://127.0.0.1:4318")))
"""

from __future__ import annotations

from rlhf_otel.pipeline._batch import BatchQueue
from rlhf_otel.pipeline._exporter import RLHFSpanExporter, span_records
from rlhf_otel.pipeline._logs import RLHFLogRecordExporter, ZeroCodeLogExporter
from rlhf_otel.pipeline._otlp import (
    ContentCaptureSpanExporter,
    add_otlp_export,
    build_otlp_exporter,
    strip_content,
    text_redaction_hook,
)
from rlhf_otel.pipeline._otlp_processor import OTLPSpanProcessor
from rlhf_otel.pipeline._processor import BatchingSpanProcessor, RLHFSpanProcessor
from rlhf_otel.pipeline._queue import Record, RecordQueue, recorded_here, write_records
from rlhf_otel.pipeline._record_spans import RecordSpanProcessor
from rlhf_otel.pipeline._zero_code import ZeroCodeSpanExporter

__all__ = [
    "BatchQueue",
    "BatchingSpanProcessor",
    "ContentCaptureSpanExporter",
    "OTLPSpanProcessor",
    "RLHFLogRecordExporter",
    "RLHFSpanExporter",
    "RLHFSpanProcessor",
    "Record",
    "RecordQueue",
    "RecordSpanProcessor",
    "ZeroCodeLogExporter",
    "ZeroCodeSpanExporter",
    "add_otlp_export",
    "build_otlp_exporter",
    "recorded_here",
    "span_records",
    "strip_content",
    "text_redaction_hook",
    "write_records",
]
