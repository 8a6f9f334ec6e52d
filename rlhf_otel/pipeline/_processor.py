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

__all__ = ["BatchingSpanProcessor", "RLHFSpanProcessor"]

_log = logging.getLogger("rlhf_otel")
_LIVE: weakref.WeakSet[BatchingSpanProcessor] = weakref.WeakSet()
_EXPORT_CHUNK = 512
_EXIT_TIMEOUT_S = 5.0
_exit_deadline: float | None = None  # set at interpreter exit: no wait goes past it


def _deadline(timeout_s: float) -> float:
    deadline = time.monotonic() + max(timeout_s, 0.0)
    return deadline if _exit_deadline is None else min(deadline, _exit_deadline)


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


class _FlushRequest:
    __slots__ = ("deadline", "done", "ok")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = threading.Event()
        self.ok = False


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

    Every wait is bounded: ``force_flush`` hands the work to the export thread and waits at
    most its timeout, so an exporter stuck in a write never blocks the caller; ``shutdown``
    waits at most its timeout too, then counts what is still queued as
    ``{drop_prefix}shutdown_timeout`` and leaves the stuck export to close the exporter
    when it returns. ``in_flight`` counts the spans inside a running export; queued,
    in-flight and settled counts change together under ``ledger``.
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
        self.in_flight = 0
        self._close_deferred = False
        self._init_locks()
        self._shutdown = False
        _register_hooks_once()
        _LIVE.add(self)

    def _init_locks(self) -> None:
        self._export_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._requests: list[_FlushRequest] = []
        self._requests_lock = threading.Lock()
        self.ledger = threading.Lock()
        # An exporter that settles its own counts does so under our ledger, in one step.
        bind = getattr(self.exporter, "bind_ledger", None)
        self._settles = bind is not None
        if bind is not None:
            bind(self.ledger, self._settle_locked)

    def _settle_locked(self, n: int) -> None:
        self.in_flight -= n

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
                self._export_now(span)
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

    def _export_now(self, span: ReadableSpan) -> None:
        # Unbatched: the caller exports, waiting at most max_block for a running export;
        # past that the span is queued for the export thread instead.
        if not self._export_lock.acquire(timeout=self._max_block):
            self._queue.append(span)
            self._ensure_thread()
            self._wake.set()
            return
        try:
            with self.ledger:
                self.in_flight += 1
            self._export_locked([span])
        finally:
            self._export_lock.release()

    def _export_inline(self, span: ReadableSpan) -> None:
        if self._export_lock.acquire(timeout=self._max_block):
            try:
                self._drain_locked(max_items=self._chunk)
            finally:
                self._export_lock.release()
        elif len(self._queue) > self._max_queue:
            self._drop_newest(span)

    def _drop_newest(self, span: ReadableSpan) -> None:
        with self.ledger:
            try:
                self._queue.remove(span)
            except ValueError:  # already taken by an export
                return
            self._discard(span, "queue_full")

    def _discard_queue(self, reason: str) -> int:
        n = 0
        with self.ledger:
            while self._queue:
                try:
                    span = self._queue.popleft()
                except IndexError:
                    break
                self._discard(span, reason)
                n += 1
        return n

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
        while True:
            self._wake.wait(self._delay)
            self._wake.clear()
            with self._requests_lock:
                requests, self._requests = self._requests, []
            while self._queue and not self._shutdown:
                with self._export_lock:
                    self._drain_locked(max_items=self._chunk)
            if requests:
                self._answer(requests)
            if self._shutdown:
                return

    def _answer(self, requests: list[_FlushRequest]) -> None:
        """Flush the exporter for waiting ``force_flush`` calls (this thread may get stuck
        here; they stop waiting at their deadlines)."""
        ok = False
        try:
            timeout_ms = int(_left(max(r.deadline for r in requests)) * 1000)
            ok = bool(self.exporter.force_flush(timeout_ms))
        except Exception:
            _log.warning("exporter flush failed", exc_info=True)
        for r in requests:
            r.ok = ok
            r.done.set()

    def _drain_locked(self, max_items: int | None = None, deadline: float | None = None) -> None:
        """Export queued spans in batches of at most ``self._chunk``, ``max_items`` in all,
        starting no batch after ``deadline``."""
        queue = self._queue
        budget = len(queue) if max_items is None else max_items
        while queue and budget > 0:
            if deadline is not None and time.monotonic() >= deadline:
                return
            batch: list[ReadableSpan] = []
            with self.ledger:
                try:
                    while queue and len(batch) < min(self._chunk, budget):
                        batch.append(queue.popleft())
                except IndexError:  # another thread emptied the queue meanwhile
                    pass
                self.in_flight += len(batch)
            budget -= len(batch)
            self._export_locked(batch)
            if max_items is None and not batch:
                return

    def _export_locked(self, batch: list[ReadableSpan]) -> None:
        """Export ``batch`` (counted in ``in_flight``), then settle its count."""
        if not batch:
            return
        settled = self._settles
        try:
            result = self.exporter.export(batch)
        except Exception:  # exporters report failure as a result; this is a bug guard
            _log.exception("exporter raised; %d spans counted as dropped", len(batch))
            with self.ledger:
                self.drops.add(f"{self._prefix}exporter_error", len(batch))
                if not settled:
                    self.in_flight -= len(batch)
            return
        finally:
            if self._close_deferred:  # shutdown gave up waiting for this export
                self._close_deferred = False
                self._shutdown_exporter()
        with self.ledger:
            if self._count_failures and result is not SpanExportResult.SUCCESS:
                self.drops.add(f"{self._prefix}export_failed", len(batch))
            if not settled:
                self.in_flight -= len(batch)

    def _shutdown_exporter(self) -> None:
        try:
            self.exporter.shutdown()
        except Exception:
            _log.warning("exporter shutdown failed", exc_info=True)

    # -- flush / shutdown -----------------------------------------------------------------

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything queued, then flush the exporter; ``False`` if not done in time.

        The export thread does the work; the caller waits at most ``timeout_millis`` (and
        never past the interpreter-exit bound), so an exporter stuck in a write makes this
        return ``False`` instead of hanging.
        """
        deadline = _deadline(timeout_millis / 1000.0)
        if self._shutdown:
            return not self._queue and not self.in_flight
        request = _FlushRequest(deadline)
        with self._requests_lock:
            self._requests.append(request)
        try:
            self._ensure_thread()
        except RuntimeError:  # no new threads at interpreter shutdown: do it here
            with self._requests_lock:
                if request in self._requests:
                    self._requests.remove(request)
            return self._flush_here(deadline)
        self._wake.set()
        if not request.done.wait(_left(deadline)):
            return False
        return request.ok

    def _flush_here(self, deadline: float) -> bool:
        if not self._export_lock.acquire(timeout=_left(deadline)):
            return False
        try:
            self._drain_locked(deadline=deadline)
        finally:
            self._export_lock.release()
        if self._queue:
            return False
        return bool(self.exporter.force_flush(int(_left(deadline) * 1000)))

    def shutdown(self, timeout_millis: int = 30_000) -> None:
        """Flush, stop the thread and shut the exporter down (idempotent), within
        ``timeout_millis`` (and the interpreter-exit bound).

        If an export is still running then, what is still queued is counted as dropped
        (``shutdown_timeout``), the spans inside that export stay ``in_flight`` until it
        returns, and the exporter is shut down when it does.
        """
        if self._shutdown:
            return
        deadline = _deadline(timeout_millis / 1000.0)
        self.force_flush(int(_left(deadline) * 1000))
        self._shutdown = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=_left(deadline))
        if self._export_lock.acquire(timeout=_left(deadline)):
            try:
                self._drain_locked(deadline=deadline)
                lost = self._discard_queue("shutdown_timeout")
                self._shutdown_exporter()
            finally:
                self._export_lock.release()
        else:
            self._close_deferred = True
            if self._export_lock.acquire(blocking=False):  # the export returned meanwhile
                try:
                    if self._close_deferred:
                        self._close_deferred = False
                        self._shutdown_exporter()
                finally:
                    self._export_lock.release()
            lost = self._discard_queue("shutdown_timeout")
            _log.warning(
                "an export is still running after %.1f s; %d spans in it are in flight, "
                "%d queued spans counted as dropped (shutdown_timeout); the exporter closes "
                "when the export returns",
                timeout_millis / 1000.0,
                self.in_flight,
                lost,
            )
        if lost:
            _log.warning("%d queued spans not exported before shutdown; counted as dropped", lost)
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
        self.in_flight = 0
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
            wanted=exporter.wants,
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
    global _exit_deadline
    deadline = time.monotonic() + _EXIT_TIMEOUT_S
    _exit_deadline = deadline  # later shutdowns (e.g. the provider's own at exit) stop here too
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
