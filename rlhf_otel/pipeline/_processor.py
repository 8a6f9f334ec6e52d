"""Batching span processors that never lose a span silently: the OTLP-out one's base, and
the one that writes spans of other libraries into a store."""

from __future__ import annotations

import logging
from collections.abc import Callable

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from rlhf_otel._counters import DropCounter
from rlhf_otel.pipeline._batch import BatchQueue
from rlhf_otel.pipeline._exporter import RLHFSpanExporter
from rlhf_otel.pipeline._queue import recorded_here

__all__ = ["BatchingSpanProcessor", "RLHFSpanProcessor"]

_log = logging.getLogger("rlhf_otel")


class BatchingSpanProcessor(BatchQueue[ReadableSpan], SpanProcessor):
    """Queues the spans ``wanted`` and hands them to ``exporter`` in batches.

    The queue is a :class:`~rlhf_otel.pipeline._batch.BatchQueue`: a background thread
    exports when ``batch_size`` spans wait or every ``schedule_delay`` seconds; at
    ``max_queue_size`` the thread that ends a span exports a batch itself (waiting at most
    ``max_block`` seconds), and only then drops the span, counting it as
    ``{drop_prefix}queue_full``; with ``export_inline=False`` (a network exporter that may
    hang) it is dropped and counted at once instead. With ``count_failures`` a batch the
    exporter reports as failed is counted as ``{drop_prefix}export_failed``. With
    ``batching=False`` every span is exported before ``on_end`` returns. Nothing here
    raises into the caller; flush, shutdown and interpreter exit are bounded.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        wanted: Callable[[ReadableSpan], bool] | None = None,
        batch_size: int = 50,
        schedule_delay: float = 5.0,
        max_queue_size: int = 20_000,
        max_block: float = 5.0,
        batching: bool = True,
        drops: DropCounter | None = None,
        drop_prefix: str = "",
        count_failures: bool = False,
        export_inline: bool = True,
    ) -> None:
        self.exporter = exporter
        self._wanted = wanted
        self._count_failures = count_failures
        super().__init__(
            batch_size=batch_size,
            schedule_delay=schedule_delay,
            max_queue_size=max_queue_size,
            max_block=max_block,
            batching=batching,
            drops=drops,
            drop_prefix=drop_prefix,
            export_inline=export_inline,
        )

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do at start."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue the span if it is wanted (never raises)."""
        try:
            if self._wanted is not None and not self._wanted(span):
                return
        except Exception:
            _log.exception("span filter failed")
            self.drops.add(f"{self._prefix}internal_error")
            return
        self._enqueue(span)

    def _send(self, batch: list[ReadableSpan]) -> None:
        result = SpanExportResult.FAILURE
        try:
            result = self.exporter.export(batch)
        except Exception:  # exporters report failure as a result; this is a bug guard
            _log.exception("exporter raised; %d spans counted as dropped", len(batch))
            with self._ledger:
                self.drops.add(f"{self._prefix}exporter_error", len(batch))
                self.in_flight -= len(batch)
            return
        with self._ledger:
            if self._count_failures and result is not SpanExportResult.SUCCESS:
                self.drops.add(f"{self._prefix}export_failed", len(batch))
            self.in_flight -= len(batch)

    def _flush_sink(self, timeout_millis: int) -> bool:
        return bool(self.exporter.force_flush(timeout_millis))

    def _close_sink(self) -> None:
        self.exporter.shutdown()


def _wanted_by(exporter: RLHFSpanExporter) -> Callable[[ReadableSpan], bool]:
    def wanted(span: ReadableSpan) -> bool:
        return not recorded_here(span.attributes) and exporter.wants(span)

    return wanted


class RLHFSpanProcessor(BatchingSpanProcessor):
    """Batches interaction and feedback spans to an :class:`RLHFSpanExporter` (which counts
    its own failures); spans that carry no interaction or feedback are ignored, and so are
    spans whose records a record queue of this process already took (see
    ``rlhf_otel.pipeline.RecordQueue``)."""

    def __init__(
        self,
        exporter: RLHFSpanExporter,
        *,
        batch_size: int = 50,
        schedule_delay: float = 5.0,
        max_queue_size: int = 20_000,
        max_block: float = 5.0,
        batching: bool = True,
        drops: DropCounter | None = None,
    ) -> None:
        super().__init__(
            exporter,
            wanted=_wanted_by(exporter),
            batch_size=batch_size,
            schedule_delay=schedule_delay,
            max_queue_size=max_queue_size,
            max_block=max_block,
            batching=batching,
            drops=drops if drops is not None else exporter.drops,
        )
