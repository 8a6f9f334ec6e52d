"""RecordQueue: the records our producers build, counted, batched and written to a store."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeAlias

from opentelemetry.context import attach, detach, set_value

from rlhf_otel import attributes as A
from rlhf_otel._counters import DropCounter
from rlhf_otel.pipeline._batch import BatchQueue
from rlhf_otel.records import Feedback, Interaction
from rlhf_otel.stores import Store, store_dropped, store_flush

__all__ = ["Record", "RecordQueue", "recorded_here", "write_records"]

_log = logging.getLogger("rlhf_otel")

try:  # the key instrumentations check, so our store's own HTTP is never traced
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY as _SUPPRESS
except ImportError:  # pragma: no cover - very old API
    _SUPPRESS = "suppress_instrumentation"

Record: TypeAlias = Interaction | Feedback
_TOKENS: set[str] = set()
_TOKENS_LOCK: Final = threading.Lock()
_RETRY_DELAYS_S: Final = (0.05, 0.2)


def recorded_here(attributes: Mapping[str, Any] | None) -> bool:
    """Whether a span's record was already taken by a record queue of this process.

    Our recording handler marks the spans of the records it puts on a queue with
    ``rlhf.record.queue`` (the queue's id); such a span is a projection of a record that is
    already counted and stored, so no exporter in this process stores it again. Spans that
    arrive from another process (OTLP, ``collect``) name no queue of this one.
    """
    if not attributes:
        return False
    token = attributes.get(A.RLHF_RECORD_QUEUE)
    return token is not None and token in _TOKENS


def write_records(
    store: Store, interactions: Sequence[Interaction], feedback: Sequence[Feedback]
) -> tuple[int, tuple[str, int] | None]:
    """Write one batch with instrumentation suppressed (our store's HTTP is never traced).

    Returns:
        (records stored, (drop reason, count) or ``None``); never raises.
    """
    n = len(interactions) + len(feedback)
    if not n:
        return 0, None
    token = attach(set_value(_SUPPRESS, True))
    try:
        store.write(interactions, feedback)
    except Exception as exc:
        _log.warning(
            "store %s failed to write %d records (%s); counted as dropped",
            type(store).__name__,
            n,
            type(exc).__name__,
        )
        return 0, (f"store_error:{type(exc).__name__}", n)
    finally:
        detach(token)
    return n, None


class RecordQueue(BatchQueue[Record]):
    """The records our producers built, on their way to a store.

    The recording handler builds each record once and calls :meth:`put`; from then on the
    queue owns it: counting (``accepted == stored + pending + in_flight + sampled_out +
    dropped`` at every moment, see :meth:`delivery`), sampling (``sample_rate`` of the
    traces keeps its interactions; feedback is always kept), batching, retries of a failed
    store write (twice, 50 and 200 ms apart; a store that raises stored nothing) and the
    write itself, from a thread of its own. When the queue reaches ``max_queue_size`` the
    producer writes a batch itself (bounded by ``max_block`` seconds) before any record is
    dropped, and a drop is counted by reason: nothing is lost silently. Nothing here runs
    under a lock shared with other code, and nothing raises into the producer.

    Args:
        store: where records go; the queue closes it on :meth:`shutdown`.
        sample_rate: share of traces whose interactions are kept (by trace id).
        batch_size, schedule_delay, max_queue_size, max_block, batching: see
            :class:`~rlhf_otel.pipeline._batch.BatchQueue` (``batching=False`` writes each
            record before :meth:`put` returns).
        drops: where lost records are counted, by reason.
        on_stored: called with the number of records each successful write stored.

    Example::

        queue = RecordQueue(MemoryStore())
        handler = RecordingHandler(tracer, queue=queue)
    """

    _counts_admissions = True

    def __init__(
        self,
        store: Store,
        *,
        sample_rate: float = 1.0,
        batch_size: int = 50,
        schedule_delay: float = 5.0,
        max_queue_size: int = 20_000,
        max_block: float = 5.0,
        batching: bool = True,
        drops: DropCounter | None = None,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.accepted = 0
        self.stored = 0
        self.sampled_out = 0
        self._threshold = int(sample_rate * (1 << 64))
        self._sample_all = sample_rate >= 1.0
        self._on_stored = on_stored
        self.retarget: Callable[[Feedback], Feedback | None] | None = None
        """Moves feedback named by a trace or an app's span onto the interaction another
        library's trace settled into, or holds it (``None``) until that trace settles; set
        by the ``RecordSpanProcessor`` of this queue, which gives held feedback back
        through :meth:`release`."""
        self.held = 0
        token = secrets.token_hex(8)
        with _TOKENS_LOCK:
            _TOKENS.add(token)
        self.token: Final = token
        """This queue's process-local id (``rlhf.record.queue`` on the spans it took)."""
        super().__init__(
            batch_size=batch_size,
            schedule_delay=schedule_delay,
            max_queue_size=max_queue_size,
            max_block=max_block,
            batching=batching,
            drops=drops,
        )

    # -- producers ------------------------------------------------------------------------

    def put(self, record: Record) -> None:
        """Take one finished record (never raises; the record is not changed afterwards)."""
        if self.retarget is not None and not isinstance(record, Interaction):
            moved = self.retarget(record)
            if moved is None:  # held until another library's trace settles
                with self._ledger:
                    self.accepted += 1
                    self.held += 1
                return
            record = moved
        if (
            not self._sample_all
            and isinstance(record, Interaction)
            and (int(record.trace_id or "0", 16) & 0xFFFFFFFFFFFFFFFF) >= self._threshold
        ):
            with self._ledger:
                self.accepted += 1
                self.sampled_out += 1
            return
        if not self._batching or self._shutdown:
            self._enqueue(record)
            return
        # The common path of _enqueue, inlined: this runs once per record on the hot path.
        queue = self._queue
        with self._ledger:
            self.accepted += 1
            queue.append(record)
            n = len(queue)
        if (
            n == self._batch_size
            or n >= self._max_queue
            or n % self._chunk == 0
            or self._thread is None
        ):
            try:
                self._after_append(record, n)
            except Exception:  # a bug of ours must not reach the producer
                _log.exception("rlhf-otel failed to hand a batch to its thread")

    def release(self, record: Record) -> None:
        """Take feedback back that ``retarget`` held (counted once, as it was)."""
        with self._ledger:
            self.accepted -= 1
            self.held -= 1
        self.put(record)

    def refuse(self, reason: str, n: int = 1) -> None:
        """Count ``n`` records accepted and lost at once for ``reason`` (e.g. the tracer
        provider's sampler did not record their span)."""
        with self._ledger:
            self.accepted += n
            self.drops.add(reason, n)

    def _admitted_locked(self) -> None:
        self.accepted += 1

    # -- the store write ------------------------------------------------------------------

    def _send(self, batch: list[Record]) -> None:
        interactions = [r for r in batch if isinstance(r, Interaction)]
        feedback = [r for r in batch if not isinstance(r, Interaction)]
        stored, lost = write_records(self.store, interactions, feedback)
        for delay in _RETRY_DELAYS_S:
            if lost is None or self._shutdown:
                break
            time.sleep(delay)
            stored, lost = write_records(self.store, interactions, feedback)
        with self._ledger:
            if lost is not None:
                self.drops.add(*lost)
            self.stored += stored
            self.in_flight -= len(batch)
        if stored and self._on_stored is not None:
            try:
                self._on_stored(stored)
            except Exception:
                _log.warning("on_stored callback failed", exc_info=True)

    def _flush_sink(self, timeout_millis: int) -> bool:
        try:
            return store_flush(self.store, timeout_millis / 1000.0)
        except Exception:
            _log.warning("store flush failed", exc_info=True)
            return False

    def _close_sink(self) -> None:
        self.store.close()

    # -- counts ---------------------------------------------------------------------------

    def delivery(self) -> dict[str, Any]:
        """What happened to the records taken so far, in one consistent step.

        Returns:
            ``accepted``, ``stored``, ``pending`` (queued), ``in_flight`` (inside a store
            write that has not returned), ``sampled_out``, ``dropped`` (by reason, the
            store's own losses under ``store:{reason}``) and ``held`` (feedback waiting for
            another library's trace to settle). ``accepted == stored + pending + in_flight
            + sampled_out + held + sum(dropped)`` (the store's own later losses aside).
        """
        with self._ledger:
            counts: dict[str, Any] = {
                "accepted": self.accepted,
                "stored": self.stored,
                "pending": len(self._queue),
                "in_flight": self.in_flight,
                "sampled_out": self.sampled_out,
                "held": self.held,
            }
            dropped = self.drops.snapshot()
        for reason, n in store_dropped(self.store).items():
            dropped[f"store:{reason}"] = dropped.get(f"store:{reason}", 0) + n
        counts["dropped"] = dropped
        return counts

    def _after_fork_child(self) -> None:
        # The parent writes what it had queued; the child's counts start from what it has.
        self.accepted -= len(self._queue) + self.in_flight
        super()._after_fork_child()
