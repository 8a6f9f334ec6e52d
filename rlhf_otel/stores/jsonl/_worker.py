"""The JSONL store's background thread: periodic fsync, then seal, compress, index, retain."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from rlhf_otel.stores.jsonl._config import JsonlStoreConfig
from rlhf_otel.stores.jsonl._format import PLAIN
from rlhf_otel.stores.jsonl._fs import DataDir
from rlhf_otel.stores.jsonl._index import TailIndex
from rlhf_otel.stores.jsonl._maint import Aborted, Maintenance
from rlhf_otel.stores.jsonl._read import SegmentReader

__all__ = ["Job", "Worker", "WorkerParts"]

_log = logging.getLogger("rlhf_otel.stores.jsonl")
Job = tuple[str, "str | None"]
_STOP: Final = ("stop", None)


@dataclass(frozen=True, slots=True)
class WorkerParts:
    """What the background thread works with: the store's collaborators, not the store.

    ``pending`` holds the sealed segments not yet indexed (shared with the
    store, which fills them); ``sync_active`` fsyncs the active segments, ``sync_file`` one
    sealed segment; ``count_retention`` adds (segments deleted, records) to the store's
    health figures.
    """

    config: JsonlStoreConfig
    writer_id: str
    data_dir: DataDir
    maint: Maintenance
    reader: SegmentReader
    sync_active: Callable[[], object]
    sync_file: Callable[[str], object]
    pending: dict[str, TailIndex]
    count_retention: Callable[[int, int], None]


class Worker:
    """One daemon thread per store, started on first use and stopped by ``close``."""

    def __init__(self, parts: WorkerParts, *, interval: float | None) -> None:
        self._parts = parts
        self._interval = interval
        self._queue: queue.Queue[Job] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._next_sync = time.monotonic() + (interval or 0.0)

    def submit(self, job: Job) -> None:
        """Queue ``job``; starts the thread if needed."""
        with self._lock:
            if self._stopping.is_set():
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="rlhf-otel-jsonl", daemon=True
                )
                self._thread.start()
        self._queue.put(job)

    def stop(self) -> None:
        """Finish the current step of the current job, drop the rest, end the thread."""
        with self._lock:
            self._stopping.set()
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _run(self) -> None:
        while not self._stopping.is_set():
            timeout = None
            if self._interval is not None:
                timeout = max(0.0, self._next_sync - time.monotonic())
            try:
                job = self._queue.get(timeout=timeout)
            except queue.Empty:
                job = None
            self.tick()
            if job is None or self._stopping.is_set():
                continue
            try:
                self._do(job)
            except _Stopped:
                return
            except Exception as exc:  # the worker must outlive any one failed job
                _log.warning("rlhf-otel JSONL store: background %s failed: %r", job[0], exc)

    def tick(self) -> None:
        """fsync the active segments if the interval is up (called between job steps too)."""
        if self._interval is None or time.monotonic() < self._next_sync:
            return
        self._next_sync = time.monotonic() + self._interval
        self._parts.sync_active()

    def _check(self) -> bool:
        return self._stopping.is_set()

    def _do(self, job: Job) -> None:
        kind, stem = job
        parts = self._parts
        cfg = parts.config
        if kind == "seal" and stem is not None:
            with parts.data_dir.maintenance(wait=True):
                self._seal(stem)
                self.retain()
        elif kind == "sweep":
            with parts.data_dir.maintenance(wait=False) as locked:
                if not locked:
                    return
                listing = parts.data_dir.listing()
                parts.maint.recover(listing)
                if cfg.compress:
                    for segs in parts.data_dir.listing().segments.values():
                        for parsed, _ in segs:
                            if parsed.suffix != PLAIN or parsed.stem in parts.pending:
                                continue
                            if not self._owner_alive(parsed.writer):
                                self._compress(parsed.stem, None)
                self.retain()

    def _owner_alive(self, writer: str) -> bool:
        parts = self._parts
        if writer == parts.writer_id:
            return True
        fd = parts.data_dir.try_lock_writer(writer)
        if fd is None:
            return True
        if fd >= 0:
            os.close(fd)
        return False

    def finish_seal(self, stem: str) -> None:
        """Save a sealed segment's index, without compressing it."""
        parts = self._parts
        index = parts.pending.pop(stem, None)
        if index is not None:
            parts.maint.index(stem, index)

    def _seal(self, stem: str) -> None:
        parts = self._parts
        index = parts.pending.get(stem)
        if parts.config.fsync != "none":
            parts.sync_file(stem)
        if parts.config.compress:
            self._compress(stem, index)
        elif index is not None:
            parts.maint.index(stem, index)
        parts.pending.pop(stem, None)

    def _compress(self, stem: str, index: TailIndex | None) -> None:
        parts = self._parts
        if parts.data_dir.stat(stem + PLAIN) is None:
            return
        try:
            done = parts.maint.compress(stem, index, stop=self._check, tick=self.tick)
        except Aborted:
            raise _Stopped from None
        if done:
            parts.reader.forget(stem)

    def retain(self) -> int:
        """Apply the retention caps (the caller holds the maintenance lock); segments deleted."""
        parts = self._parts
        max_age_s, max_bytes, rated_s = parts.config.retention_caps()
        if max_age_s is None and max_bytes is None:
            return 0
        deleted, records, rewritten = parts.maint.retention(
            parts.data_dir.listing(),
            max_age_s=max_age_s,
            max_bytes=max_bytes,
            rated_max_age_s=rated_s,
            reader=parts.reader,
        )
        for stem in rewritten:
            parts.reader.forget(stem)
        parts.count_retention(deleted, records)
        return deleted


class _Stopped(Exception):
    pass
