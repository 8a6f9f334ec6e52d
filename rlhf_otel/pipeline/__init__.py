"""The export pipeline: batching span processors, the span-to-store exporter, OTLP out."""

from __future__ import annotations

from rlhf_otel.pipeline._exporter import PrebuiltRecords, RLHFSpanExporter
from rlhf_otel.pipeline._otlp import add_otlp_export
from rlhf_otel.pipeline._processor import BatchingSpanProcessor, RLHFSpanProcessor

__all__ = [
    "BatchingSpanProcessor",
    "PrebuiltRecords",
    "RLHFSpanExporter",
    "RLHFSpanProcessor",
    "add_otlp_export",
]
