"""A bounded batching queue that never loses an item silently: the machinery both the
record queue (records to a store) and the span processors (spans to an exporter) run on."""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Generic, TypeVar

from rlhf_otel._counters import DropCounter

__all__ = ["BatchQueue"]

T = TypeVar("T")

_log = logging.getLogger("rlhf_otel")
_LIVE: weakref.WeakSet[BatchQueue[object]] = weakref.WeakSet()
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


class BatchQueue(Generic[T]):
    """Queues items and sends them to a sink in batches, from a thread of its own.

    A background thread sends when ``batch_size`` items wait or every ``schedule_delay``
    seconds. When ``max_queue_size`` items wait (the thread could not keep up, e.g. starved
    of the GIL, or the sink is slow), the producer sends a batch itself, waiting at most
    ``max_block`` seconds for a running send, and only then drops the item, counting it as
    ``{drop_prefix}queue_full``. With ``export_inline=False`` (a network sink that may hang)
    the item is dropped and counted at once instead, so the producer never waits on the
    network. With ``batching=False`` the producer sends each item before :meth:`_enqueue`
    returns. Nothing here raises into the producer.

    Safe across ``os.fork()``: the child drops the parent's queued items (the parent still
    sends them) and starts its own thread. Pending items are sent at interpreter exit (5 s
    at most in all). Every wait is bounded: :meth:`force_flush` hands the work to the thread
    and waits at most its timeout; :meth:`shutdown` waits at most its timeout too, then
    counts what is still queued as ``{drop_prefix}shutdown_timeout`` and leaves the stuck
    send to close the sink when it returns. ``in_flight`` counts the items inside a
    running send; queued, in-flight and settled counts change together under ``_ledger``.

    Subclasses implement :meth:`_send` (which settles ``in_flight`` itself, under the
    ledger, in the same step that counts the batch's outcome), :meth:`_flush_sink` and
    :meth:`_close_sink`.
    """

    def __init__(
        self,
        *,
        batch_size: int = 50,
        schedule_delay: float = 5.0,
        max_queue_size: int = 20_000,
        max_block: float = 5.0,
        batching: bool = True,
        drops: DropCounter | None = None,
        drop_prefix: str = "",
        export_inline: bool = True,
    ) -> None:
        self._inline = export_inline
        self.drops = drops if drops is not None else DropCounter()
        self._prefix = drop_prefix
        self._chunk = max(batch_size, _EXPORT_CHUNK)
        self._batch_size = batch_size
        self._delay = schedule_delay
        self._max_queue = max_queue_size
        self._max_block = max_block
        self._batching = batching
        self._queue: collections.deque[T] = collections.deque()
        self.in_flight = 0
        self._close_deferred = False
        self._init_locks()
        self._shutdown = False
        _register_hooks_once()
        _LIVE.add(self)  # type: ignore[arg-type]  # a WeakSet of any queue

    def _init_locks(self) -> None:
        self._export_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._requests: list[_FlushRequest] = []
        self._requests_lock = threading.Lock()
        self._ledger = threading.Lock()

    # -- what subclasses provide ----------------------------------------------------------

    _counts_admissions = False
    """Whether :meth:`_admitted_locked` counts anything (then queueing takes the ledger)."""

    def _admitted_locked(self) -> None:
        """Count one item taken in (under the ledger, in the step that queues it)."""

    def _send(self, batch: list[T]) -> None:
        """Send ``batch`` (counted in ``in_flight``) and settle its counts under the ledger."""
        raise NotImplementedError

    def _flush_sink(self, timeout_millis: int) -> bool:
        """Make what the sink holds durable."""
        return True

    def _close_sink(self) -> None:
        """Close the sink (once, after the last send)."""

    # -- queueing -------------------------------------------------------------------------

    def _enqueue(self, item: T) -> None:
        """Queue ``item`` (never raises)."""
        try:
            if self._shutdown:
                with self._ledger:
                    self._admitted_locked()
                    self._discard(item, "after_shutdown")
                return
            if not self._batching:
                self._send_now(item)
                return
            queue = self._queue
            if self._counts_admissions:
                with self._ledger:
                    self._admitted_locked()
                    queue.append(item)
                    n = len(queue)
            else:
                queue.append(item)
                n = len(queue)
            self._after_append(item, n)
        except Exception:  # a bug of ours must not reach the producer
            _log.exception("rlhf-otel failed to queue an item")
            self.drops.add(f"{self._prefix}internal_error")

    def _after_append(self, item: T, n: int) -> None:
        if n >= self._max_queue and self._inline:
            self._send_inline(item)
        elif n > self._max_queue:
            self._drop_newest(item)
        elif n == self._batch_size or n % self._chunk == 0:
            self._ensure_thread()
            self._wake.set()
        elif self._thread is None:
            self._ensure_thread()

    def _discard(self, item: T, reason: str) -> None:
        """Count an item that will never be sent."""
        self.drops.add(f"{self._prefix}{reason}")

    def _send_now(self, item: T) -> None:
        # Unbatched: the producer sends, waiting at most max_block for a running send;
        # past that the item is queued for the thread instead.
        if not self._export_lock.acquire(timeout=self._max_block):
            with self._ledger:
                self._admitted_locked()
                self._queue.append(item)
            self._ensure_thread()
            self._wake.set()
            return
        try:
            with self._ledger:
                self._admitted_locked()
                self.in_flight += 1
            self._send_locked([item])
        finally:
            self._export_lock.release()

    def _send_inline(self, item: T) -> None:
        if self._export_lock.acquire(timeout=self._max_block):
            try:
                self._drain_locked(max_items=self._chunk)
            finally:
                self._export_lock.release()
        elif len(self._queue) > self._max_queue:
            self._drop_newest(item)

    def _drop_newest(self, item: T) -> None:
        with self._ledger:
            try:
                self._queue.remove(item)
            except ValueError:  # already taken by a send
                return
            self._discard(item, "queue_full")

    def _discard_queue(self, reason: str) -> int:
        n = 0
        with self._ledger:
            while self._queue:
                try:
                    item = self._queue.popleft()
                except IndexError:
                    break
                self._discard(item, reason)
                n += 1
        return n

    # -- sending --------------------------------------------------------------------------

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
        """Flush the sink for waiting ``force_flush`` calls (this thread may get stuck
        here; they stop waiting at their deadlines)."""
        ok = False
        try:
            ok = bool(self._flush_sink(int(_left(max(r.deadline for r in requests)) * 1000)))
        except Exception:
            _log.warning("rlhf-otel sink flush failed", exc_info=True)
        for r in requests:
            r.ok = ok
            r.done.set()

    def _drain_locked(self, max_items: int | None = None, deadline: float | None = None) -> None:
        """Send queued items in batches of at most ``self._chunk``, ``max_items`` in all,
        starting no batch after ``deadline``."""
        queue = self._queue
        budget = len(queue) if max_items is None else max_items
        while queue and budget > 0:
            if deadline is not None and time.monotonic() >= deadline:
                return
            batch: list[T] = []
            append, popleft = batch.append, queue.popleft
            with self._ledger:
                try:  # items leave the queue under the ledger: these many are there to take
                    for _ in range(min(self._chunk, budget, len(queue))):
                        append(popleft())
                except IndexError:  # another thread emptied the queue meanwhile
                    pass
                self.in_flight += len(batch)
            budget -= len(batch)
            self._send_locked(batch)
            if max_items is None and not batch:
                return

    def _send_locked(self, batch: list[T]) -> None:
        if not batch:
            return
        try:
            self._send(batch)
        except Exception:  # sinks report failure as a result; this is a bug guard
            _log.exception("rlhf-otel failed to send %d items; counted as dropped", len(batch))
            with self._ledger:
                self.drops.add(f"{self._prefix}exporter_error", len(batch))
                self.in_flight -= len(batch)
        finally:
            if self._close_deferred:  # shutdown gave up waiting for this send
                self._close_deferred = False
                self._close_quietly()

    def _close_quietly(self) -> None:
        try:
            self._close_sink()
        except Exception:
            _log.warning("rlhf-otel sink close failed", exc_info=True)

    # -- flush / shutdown -----------------------------------------------------------------

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Send everything queued, then flush the sink; ``False`` if not done in time.

        The queue's thread does the work; the caller waits at most ``timeout_millis`` (and
        never past the interpreter-exit bound), so a sink stuck in a write makes this
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
        return bool(self._flush_sink(int(_left(deadline) * 1000)))

    def shutdown(self, timeout_millis: int = 30_000) -> None:
        """Flush, stop the thread and close the sink (idempotent), within
        ``timeout_millis`` (and the interpreter-exit bound).

        If a send is still running then, what is still queued is counted as dropped
        (``shutdown_timeout``), the items inside that send stay ``in_flight`` until it
        returns, and the sink is closed when it does.
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
                self._close_quietly()
            finally:
                self._export_lock.release()
        else:
            self._close_deferred = True
            if self._export_lock.acquire(blocking=False):  # the send returned meanwhile
                try:
                    if self._close_deferred:
                        self._close_deferred = False
                        self._close_quietly()
                finally:
                    self._export_lock.release()
            lost = self._discard_queue("shutdown_timeout")
            _log.warning(
                "a send is still running after %.1f s; %d items in it are in flight, "
                "%d queued items counted as dropped (shutdown_timeout); the sink closes "
                "when the send returns",
                timeout_millis / 1000.0,
                self.in_flight,
                lost,
            )
        if lost:
            _log.warning("%d queued items not sent before shutdown; counted as dropped", lost)
        _LIVE.discard(self)  # type: ignore[arg-type]

    @property
    def pending(self) -> int:
        """Items queued and not yet sent."""
        return len(self._queue)

    def dropped(self) -> Mapping[str, int]:
        """Items lost so far, by reason."""
        return self.drops.snapshot()

    # -- fork -----------------------------------------------------------------------------

    def _before_fork(self) -> None:
        self._export_lock.acquire()

    def _after_fork_parent(self) -> None:
        self._export_lock.release()

    def _after_fork_child(self) -> None:
        self._queue.clear()
        self.in_flight = 0
        self._init_locks()


def _each_live(method: str) -> None:
    for queue in list(_LIVE):
        getattr(queue, method)()


def _flush_at_exit() -> None:
    global _exit_deadline
    deadline = time.monotonic() + _EXIT_TIMEOUT_S
    _exit_deadline = deadline  # later shutdowns (e.g. the provider's own at exit) stop here too
    for queue in list(_LIVE):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            queue.force_flush(int(remaining * 1000))
        except Exception:  # never fail interpreter exit
            _log.warning("flush at exit failed", exc_info=True)


_hooks_registered = False


def _register_hooks_once() -> None:
    # Registered with the first queue, not at import: importing us changes nothing.
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
