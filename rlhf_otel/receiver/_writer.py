"""The bounded queue between the receiver's HTTP threads and the store: group commit, no loss."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Final

from rlhf_otel.records import Feedback, Interaction
from rlhf_otel.stores import Store, store_flush

__all__ = ["Batch", "BatchState", "StoreWriter"]

_logger = logging.getLogger("rlhf_otel.collect")
_FLUSH_TIMEOUT: Final = 30.0


class BatchState(enum.Enum):
    """Where a batch is between the HTTP thread that made it and the store."""

    QUEUED = "queued"
    WRITING = "writing"
    STORED = "stored"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Batch:
    """The records of one export request, and what became of them."""

    __slots__ = (
        "done",
        "error",
        "feedback",
        "interactions",
        "reasons",
        "rejected",
        "size",
        "state",
        "stored_feedback",
        "stored_interactions",
    )

    def __init__(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        self.interactions = list(interactions)
        self.feedback = list(feedback)
        self.size = len(self.interactions) + len(self.feedback)
        self.state = BatchState.QUEUED
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.rejected = 0
        self.reasons: list[str] = []
        self.stored_interactions = 0
        self.stored_feedback = 0

    def stored(self) -> None:
        """Mark every record of the batch as written."""
        self.stored_interactions = len(self.interactions)
        self.stored_feedback = len(self.feedback)
        self.state = BatchState.STORED


class StoreWriter:
    """One thread that writes queued batches to the store, several requests per ``write``.

    A batch counts as accepted only once ``store.write`` returned (and ``flush`` was asked),
    so the HTTP thread answers 200 only for records the store holds; the queue is bounded in
    records, so a flood is refused (429) instead of growing memory.

    Args:
        store: where records go; ``write`` is only ever called from this writer's thread.
        max_pending: the most records queued and not yet written.
        max_write: the most records handed to one ``store.write`` (at least one batch).
        unhealthy_for: seconds to refuse new work after the store failed a write.
    """

    def __init__(
        self, store: Store, *, max_pending: int, max_write: int, unhealthy_for: float
    ) -> None:
        self._store = store
        self._max_pending = max_pending
        self._max_write = max_write
        self._unhealthy_for = unhealthy_for
        self._cond = threading.Condition()
        self._queue: deque[Batch] = deque()
        self._pending = 0
        self._closing = False
        self._failed_until = 0.0
        self._thread = threading.Thread(
            target=self._run, name="rlhf-otel-collect-writer", daemon=True
        )
        self._thread.start()

    @property
    def closing(self) -> bool:
        """Whether :meth:`close` was called (no batch is taken any more)."""
        return self._closing

    @property
    def pending(self) -> int:
        """Records queued and not yet written."""
        with self._cond:
            return self._pending

    def healthy(self) -> bool:
        """False for ``unhealthy_for`` seconds after the store failed a write."""
        return time.monotonic() >= self._failed_until

    def submit(self, batch: Batch) -> bool:
        """Queue ``batch``; False (and nothing queued) when the queue is full or closing.

        A batch larger than the whole bound is taken when the queue is empty, so one big
        request can always get through on its own.
        """
        with self._cond:
            if self._closing:
                return False
            if self._pending and self._pending + batch.size > self._max_pending:
                return False
            self._queue.append(batch)
            self._pending += batch.size
            self._cond.notify()
            return True

    def wait(self, batch: Batch, timeout: float) -> BatchState:
        """Wait for ``batch``; past ``timeout`` a batch not yet being written is withdrawn.

        A batch the store is already writing is waited for to the end, so the answer is
        always the truth: STORED, FAILED, or CANCELLED (never written).
        """
        if batch.done.wait(timeout):
            return batch.state
        with self._cond:
            if batch.state is BatchState.QUEUED:
                self._queue.remove(batch)
                self._pending -= batch.size
                batch.state = BatchState.CANCELLED
                batch.done.set()
                return batch.state
        batch.done.wait()
        return batch.state

    def close(self, timeout: float | None = None) -> bool:
        """Write everything queued, then stop. True if the queue drained in time."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ------------------------------------------------------------------ writer thread

    def _take(self) -> list[Batch] | None:
        with self._cond:
            while not self._queue:
                if self._closing:
                    return None
                self._cond.wait()
            group: list[Batch] = []
            size = 0
            while self._queue and (not group or size + self._queue[0].size <= self._max_write):
                batch = self._queue.popleft()
                batch.state = BatchState.WRITING
                size += batch.size
                group.append(batch)
            return group

    def _run(self) -> None:
        while (group := self._take()) is not None:
            try:
                self._write_group(group)
            finally:
                with self._cond:
                    self._pending -= sum(b.size for b in group)
                for batch in group:
                    batch.done.set()

    def _write_group(self, group: list[Batch]) -> None:
        try:
            self._store.write(
                [it for b in group for it in b.interactions],
                [fb for b in group for fb in b.feedback],
            )
        except Exception:  # noqa: BLE001 - the store is user code; isolate the culprit below
            if len(group) == 1:
                self._write_one(group[0])
            else:
                for batch in group:
                    self._write_one(batch)
        else:
            for batch in group:
                batch.stored()
        self._flush()

    def _write_one(self, batch: Batch) -> None:
        try:
            self._store.write(batch.interactions, batch.feedback)
        except ValueError:
            self._write_each(batch)
        except Exception as exc:  # noqa: BLE001 - any store failure becomes a 503, not a crash
            batch.error = exc
            batch.state = BatchState.FAILED
            self._failed_until = time.monotonic() + self._unhealthy_for
            _logger.warning("store write failed (%d records answered 503): %r", batch.size, exc)
        else:
            batch.stored()

    def _write_each(self, batch: Batch) -> None:
        """The store refused the batch's content: store what it takes, reject the rest."""
        singles: list[tuple[list[Interaction], list[Feedback], str]] = [
            ([it], [], it.id) for it in batch.interactions
        ] + [([], [fb], fb.id) for fb in batch.feedback]
        for interactions, feedback, record_id in singles:
            try:
                self._store.write(interactions, feedback)
                batch.stored_interactions += len(interactions)
                batch.stored_feedback += len(feedback)
            except ValueError as exc:
                batch.rejected += 1
                if len(batch.reasons) < 5:
                    batch.reasons.append(f"store refused record {record_id!r}: {exc}")
            except Exception as exc:  # noqa: BLE001 - see _write_one
                batch.error = exc
                batch.state = BatchState.FAILED
                self._failed_until = time.monotonic() + self._unhealthy_for
                return
        batch.state = BatchState.STORED

    def _flush(self) -> None:
        try:
            if not store_flush(self._store, _FLUSH_TIMEOUT):
                _logger.warning("store flush did not complete within %.0f s", _FLUSH_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - a flush failure must not kill the writer
            _logger.warning("store flush failed: %r", exc)
