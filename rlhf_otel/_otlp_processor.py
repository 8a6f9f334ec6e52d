"""The span processor of the OTLP-out path: batches, never blocks long, counts what it drops."""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Mapping

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from rlhf_otel.stores._protocol import DropCounter

__all__ = ["OTLPSpanProcessor"]

_log = logging.getLogger("rlhf_otel.otlp")


class OTLPSpanProcessor(SpanProcessor):
    """Queues spans for an OTLP exporter and sends them in batches from a thread.

    When ``max_queue_size`` spans wait (the thread starved of the GIL, or the collector is
    slow), the thread that ends a span sends a batch itself, waiting at most ``max_block``
    seconds for a running export; only then is the span dropped, counted as
    ``otlp_queue_full``. A batch the exporter fails to send (after its own retries) is
    counted as ``otlp_export_failed``. Nothing here raises into the caller.

    Args:
        exporter: usually a :class:`~rlhf_otel._otlp.ContentCaptureSpanExporter`.
        wanted: which finished spans to send (default: all).
        batch_size: spans per export (default 512).
        schedule_delay: seconds between exports when the queue is not full (default 1).
        max_queue_size: spans waiting at most (default 20,000).
        max_block: seconds a producer waits for a running export at the bound (default 5).
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        wanted: Callable[[ReadableSpan], bool] | None = None,
        batch_size: int = 512,
        schedule_delay: float = 1.0,
        max_queue_size: int = 20_000,
        max_block: float = 5.0,
    ) -> None:
        self.exporter = exporter
        self._wanted = wanted
        self._batch_size = batch_size
        self._delay = schedule_delay
        self._max_queue = max_queue_size
        self._max_block = max_block
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._export_lock = threading.Lock()
        self._wake = threading.Event()
        self._drops = DropCounter()
        self._shutdown = False
        self._thread = threading.Thread(target=self._run, name="rlhf-otel-otlp", daemon=True)
        self._thread.start()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do at start."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue the span (if wanted); past the bound, send a batch in this thread."""
        try:
            if self._wanted is not None and not self._wanted(span):
                return
            if self._shutdown:
                self._drops.add("otlp_after_shutdown")
                return
            self._queue.append(span)
            n = len(self._queue)
            if n >= self._max_queue:
                if self._export_lock.acquire(timeout=self._max_block):
                    try:
                        self._drain_locked(max_items=self._batch_size)
                    finally:
                        self._export_lock.release()
                elif len(self._queue) > self._max_queue:
                    self._queue.pop()
                    self._drops.add("otlp_queue_full")
            elif n >= self._batch_size:
                self._wake.set()
        except Exception:  # noqa: BLE001 - telemetry never raises into user code
            _log.exception("OTLP span processor failed to queue a span")
            self._drops.add("otlp_internal_error")

    def _run(self) -> None:
        while not self._shutdown:
            self._wake.wait(self._delay)
            self._wake.clear()
            with self._export_lock:
                self._drain_locked()

    def _drain_locked(self, max_items: int | None = None) -> None:
        sent = 0
        while self._queue and (max_items is None or sent < max_items):
            batch: list[ReadableSpan] = []
            while self._queue and len(batch) < self._batch_size:
                batch.append(self._queue.popleft())
            sent += len(batch)
            try:
                result = self.exporter.export(batch)
            except Exception:  # noqa: BLE001 - an exporter must not kill the thread
                _log.exception("OTLP exporter raised")
                result = SpanExportResult.FAILURE
            if result is not SpanExportResult.SUCCESS:
                self._drops.add("otlp_export_failed", len(batch))

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Send everything queued; False if a running export held the lock past the timeout."""
        if not self._export_lock.acquire(timeout=timeout_millis / 1000):
            return False
        try:
            self._drain_locked()
        finally:
            self._export_lock.release()
        return bool(self.exporter.force_flush(timeout_millis))

    def shutdown(self) -> None:
        """Send what is queued, stop the thread, shut the exporter down (idempotent)."""
        if self._shutdown:
            return
        self.force_flush()
        self._shutdown = True
        self._wake.set()
        self._thread.join(timeout=5.0)
        with self._export_lock:
            self._drain_locked()
        self.exporter.shutdown()

    @property
    def pending(self) -> int:
        """Spans queued and not yet sent."""
        return len(self._queue)

    def dropped(self) -> Mapping[str, int]:
        """Spans not sent, by reason."""
        return self._drops.snapshot()
