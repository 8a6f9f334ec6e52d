"""Batching span processors that never lose a span silently: ours, and the OTLP-out one."""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from rlhf_otel._counters import DropCounter
from rlhf_otel.pipeline._exporter import RLHFSpanExporter
from rlhf_otel.recording import carries_records

__all__ = ["BatchingSpanProcessor", "RLHFSpanProcessor"]

_log = logging.getLogger("rlhf_otel")
_LIVE: weakref.WeakSet[BatchingSpanProcessor] = weakref.WeakSet()
_EXPORT_CHUNK = 512
_EXIT_TIMEOUT_S = 5.0


class BatchingSpanProcessor(SpanProcessor):
    """Queues the spans ``wanted`` and hands them to ``exporter`` in batches.

    A background thread exports when ``batch_size`` spans wait or every
    ``schedule_delay`` seconds. When ``max_queue_size`` spans wait (the thread could not keep
    up, e.g. starved of the GIL, or the exporter is slow), the thread that ends a span
    exports a batch itself, waiting at most ``max_block`` seconds for a running export, and
    only then drops the span, counting it as ``{drop_prefix}queue_full``. With
    ``export_inline=False`` (a network exporter that may hang) the span is dropped and
    counted at once instead, so the caller never waits on the network. With
    ``count_failures`` a batch the exporter reports as failed is counted as
    ``{drop_prefix}export_failed`` (an exporter that counts its own failures leaves it off).
    Nothing here raises into the caller.

    With ``batching=False`` every span is exported before ``on_end`` returns.
    The processor is safe across ``os.fork()``: the child drops the parent's queued spans
    (the parent still sends them) and starts its own thread. Pending spans are exported at
    interpreter exit (5 s at most in all).
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
        self._inline = export_inline
        self.drops = drops if drops is not None else DropCounter()
        self._wanted = wanted
        self._prefix = drop_prefix
        self._count_failures = count_failures
        self._chunk = max(batch_size, _EXPORT_CHUNK)
        self._batch_size = batch_size
        self._delay = schedule_delay
        self._max_queue = max_queue_size
        self._max_block = max_block
        self._batching = batching
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._init_locks()
        self._shutdown = False
        _register_hooks_once()
        _LIVE.add(self)

    def _init_locks(self) -> None:
        self._export_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    # -- span lifecycle -----------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do at start."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue the span if it is wanted (never raises)."""
        try:
            if self._wanted is not None and not self._wanted(span):
                return
            if self._shutdown:
                self._discard(span, "after_shutdown")
                return
            if not self._batching:
                with self._export_lock:
                    self._export_locked([span])
                return
            queue = self._queue
            queue.append(span)
            n = len(queue)
            if n >= self._max_queue and self._inline:
                self._export_inline(span)
            elif n > self._max_queue:
                self._drop_newest(span)
            elif n == self._batch_size or n % self._chunk == 0:
                self._ensure_thread()
                self._wake.set()
            elif self._thread is None:
                self._ensure_thread()
        except Exception:  # a bug of ours must not reach the code that ended the span
            _log.exception("span processor failed to queue a span")
            self.drops.add(f"{self._prefix}internal_error")

    def _discard(self, span: ReadableSpan, reason: str) -> None:
        """Count a span that will never be exported."""
        self.drops.add(f"{self._prefix}{reason}")

    def _export_inline(self, span: ReadableSpan) -> None:
        if self._export_lock.acquire(timeout=self._max_block):
            try:
                self._drain_locked(max_items=self._chunk)
            finally:
                self._export_lock.release()
        elif len(self._queue) > self._max_queue:
            self._drop_newest(span)

    def _drop_newest(self, span: ReadableSpan) -> None:
        try:
            self._queue.remove(span)
        except ValueError:  # already taken by an export
            return
        self._discard(span, "queue_full")

    # -- exporting ----------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._worker, name="rlhf-otel-export", daemon=True
                )
                self._thread.start()

    def _worker(self) -> None:
        while not self._shutdown:
            self._wake.wait(self._delay)
            self._wake.clear()
            while self._queue and not self._shutdown:
                with self._export_lock:
                    self._drain_locked(max_items=self._chunk)

    def _drain_locked(self, max_items: int | None = None) -> None:
        """Export queued spans in batches of at most ``self._chunk``, ``max_items`` in all."""
        queue = self._queue
        budget = len(queue) if max_items is None else max_items
        while queue and budget > 0:
            batch: list[ReadableSpan] = []
            try:
                while queue and len(batch) < min(self._chunk, budget):
                    batch.append(queue.popleft())
            except IndexError:  # another thread emptied the queue meanwhile
                pass
            budget -= len(batch)
            self._export_locked(batch)
            if max_items is None and not batch:
                return

    def _export_locked(self, batch: list[ReadableSpan]) -> None:
        if not batch:
            return
        try:
            result = self.exporter.export(batch)
        except Exception:  # exporters report failure as a result; this is a bug guard
            _log.exception("exporter raised; %d spans counted as dropped", len(batch))
            self.drops.add(f"{self._prefix}exporter_error", len(batch))
            return
        if self._count_failures and result is not SpanExportResult.SUCCESS:
            self.drops.add(f"{self._prefix}export_failed", len(batch))

    # -- flush / shutdown -----------------------------------------------------------------

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything queued, then flush the store; ``False`` if not done in time."""
        deadline = time.monotonic() + timeout_millis / 1000.0
        if not self._export_lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            return False
        try:
            self._drain_locked()
        finally:
            self._export_lock.release()
        remaining_ms = int(max(deadline - time.monotonic(), 0.0) * 1000)
        # Everything queued when the lock was taken is exported; later spans are not "before".
        return bool(self.exporter.force_flush(remaining_ms))

    def shutdown(self) -> None:
        """Flush, stop the thread and shut the exporter down (idempotent)."""
        if self._shutdown:
            return
        self.force_flush()
        self._shutdown = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
        with self._export_lock:
            self._drain_locked()
            self.exporter.shutdown()
        _LIVE.discard(self)

    @property
    def pending(self) -> int:
        """Spans queued and not yet exported."""
        return len(self._queue)

    def dropped(self) -> Mapping[str, int]:
        """Records lost so far, by reason."""
        return self.drops.snapshot()

    # -- fork ---------------------------------------------------------------------------

    def _before_fork(self) -> None:
        self._export_lock.acquire()

    def _after_fork_parent(self) -> None:
        self._export_lock.release()

    def _after_fork_child(self) -> None:
        self._queue.clear()
        self._init_locks()


class RLHFSpanProcessor(BatchingSpanProcessor):
    """Batches interaction and feedback spans to an :class:`RLHFSpanExporter` (which counts
    its own failures); spans that carry no interaction or feedback are ignored."""

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
            wanted=carries_records,
            batch_size=batch_size,
            schedule_delay=schedule_delay,
            max_queue_size=max_queue_size,
            max_block=max_block,
            batching=batching,
            drops=drops if drops is not None else exporter.drops,
        )
        self._prebuilt = exporter.prebuilt

    def _discard(self, span: ReadableSpan, reason: str) -> None:
        ctx = span.get_span_context()
        if ctx is not None and self._prebuilt is not None:
            self._prebuilt.forget(ctx.span_id)
        super()._discard(span, reason)

    def _after_fork_child(self) -> None:
        super()._after_fork_child()
        if self._prebuilt is not None:
            self._prebuilt.clear()


def _each_live(method: str) -> None:
    for processor in list(_LIVE):
        getattr(processor, method)()


def _flush_at_exit() -> None:
    deadline = time.monotonic() + _EXIT_TIMEOUT_S
    for processor in list(_LIVE):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            processor.force_flush(int(remaining * 1000))
        except Exception:  # never fail interpreter exit
            _log.warning("flush at exit failed", exc_info=True)


_hooks_registered = False


def _register_hooks_once() -> None:
    # Registered with the first processor, not at import: importing us changes nothing.
    global _hooks_registered
    if _hooks_registered:
        return
    _hooks_registered = True
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(
            before=lambda: _each_live("_before_fork"),
            after_in_parent=lambda: _each_live("_after_fork_parent"),
            after_in_child=lambda: _each_live("_after_fork_child"),
        )
    atexit.register(_flush_at_exit)
