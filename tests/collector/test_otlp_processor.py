"""The OTLP-out processor counts every span it cannot send, by reason."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from rlhf_otel.pipeline import OTLPSpanProcessor
from tests.guards import returns


class Refusing(SpanExporter):
    """A collector that answers every export with a failure."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.FAILURE


class Stuck(SpanExporter):
    """A collector that hangs until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.sent = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(10)
        self.sent += len(spans)
        return SpanExportResult.SUCCESS


def test_failed_exports_are_counted() -> None:
    """Spans in a batch the exporter refuses are counted as otlp_export_failed."""
    provider = TracerProvider()
    processor = OTLPSpanProcessor(Refusing(), batch_size=4)
    provider.add_span_processor(processor)
    for _ in range(10):
        provider.get_tracer("t").start_span("s").end()
    processor.shutdown()
    assert processor.dropped() == {"otlp_export_failed": 10}


def test_full_queue_drops_and_counts_without_waiting() -> None:
    """With the collector hung, spans past the bound are dropped at once and counted."""
    provider = TracerProvider()
    stuck = Stuck()
    processor = OTLPSpanProcessor(stuck, batch_size=2, max_queue_size=4, schedule_delay=0.01)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")

    def end_spans() -> None:
        for _ in range(20):
            tracer.start_span("s").end()

    returns(end_spans)  # a span end that waited for room would wait for the release below
    stuck.release.set()
    processor.shutdown()
    dropped = processor.dropped().get("otlp_queue_full", 0)
    assert dropped > 0
    assert stuck.sent + dropped == 20
