"""The writing side of the JSONL store: this process's active segments, rotation, fsync."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from rlhf_otel.stores._protocol import DropCounter
from rlhf_otel.stores.jsonl import _fs as _jsonl_fs
from rlhf_otel.stores.jsonl._format import ACTIVE, PLAIN, stem_for
from rlhf_otel.stores.jsonl._fs import DataDir, drop_reason
from rlhf_otel.stores.jsonl._index import TailIndex

__all__ = ["EncodedRecord", "SegmentWriter", "Sealed"]

_log = logging.getLogger("rlhf_otel.stores.jsonl")

EncodedRecord = tuple[
    bytes, str, tuple[str, ...], str, "tuple[str, Mapping[str, Any], str | None] | None"
]
"""(line, id, target ids, timestamp, feedback (type, data, supersedes) or None)."""


@dataclass(slots=True)
class _Active:
    stem: str
    fd: int
    index: TailIndex
    size: int = 0
    dirty: bool = False


@dataclass(slots=True)
class Sealed:
    """A segment this writer just sealed, with the index it built while writing it."""

    stem: str
    kind: str
    index: TailIndex


class SegmentWriter:
    """Appends batches to one active segment per kind, rotating them by size.

    ``on_seal(sealed)`` is called (under the writer lock) each time a segment is sealed;
    the store hands it to its maintenance worker for fsync, indexing and compression.
    """

    def __init__(
        self,
        ddir: DataDir,
        writer: str,
        *,
        max_bytes: int | None,
        fsync: str,
        drops: DropCounter,
        on_seal: Callable[[Sealed], None],
    ) -> None:
        self._dir = ddir
        self._writer = writer
        self._max = max_bytes
        self._fsync = fsync
        self._drops = drops
        self._on_seal = on_seal
        self._lock = threading.RLock()
        self._active: dict[str, _Active] = {}
        self._seq = 0
        self._last_created = datetime.min.replace(tzinfo=timezone.utc)
        self._failing: str | None = None
        self._failed_records = 0
        self._dir_dirty = False
        self._closed = False

    # ------------------------------------------------------------------ writing
    def write(self, kind: str, items: Sequence[EncodedRecord]) -> None:
        """Append ``items`` to the active ``kind`` segment; failures are counted, not raised."""
        with self._lock:
            if self._closed:
                self._drops.add("store_closed", len(items))
                return
            i = 0
            while i < len(items):
                seg = self._active.get(kind)
                if seg is None:
                    try:
                        seg = self._open(kind)
                    except OSError as exc:
                        self._lost(len(items) - i, drop_reason(exc), exc)
                        return
                room = None if self._max is None else self._max - seg.size
                j, total = i, 0
                while j < len(items):
                    n = len(items[j][0])
                    if room is not None and total + n > room and (j > i or seg.size > 0):
                        break
                    total += n
                    j += 1
                if j == i:
                    self._seal(kind)
                    continue
                self._append(kind, seg, items[i:j], total)
                i = j
                if self._max is not None and kind in self._active and seg.size >= self._max:
                    self._seal(kind)

    def _append(self, kind: str, seg: _Active, chunk: Sequence[EncodedRecord], total: int) -> None:
        data = b"".join([item[0] for item in chunk])
        try:
            _jsonl_fs.write_all(seg.fd, data)
        except OSError as exc:
            self._write_failed(kind, seg, exc, len(chunk))
            return
        loc = seg.size
        locs = []
        for item in chunk:
            locs.append(loc)
            loc += len(item[0])
        seg.index.add_batch(
            [item[1] for item in chunk],
            [item[2] for item in chunk],
            locs,
            [item[3] for item in chunk],
        )
        seg.size = loc
        seg.index.upto = loc
        seg.dirty = True
        if self._failing is not None:
            _log.warning(
                "rlhf-otel JSONL store %s: writing again after %s; %d records were dropped "
                "and counted in dropped()",
                self._dir.path,
                self._failing,
                self._failed_records,
            )
            self._failing = None
            self._failed_records = 0
        if self._fsync == "batch":
            self._sync_fd(seg.fd)
            seg.dirty = False
            if self._dir_dirty:
                self._dir.sync()
                self._dir_dirty = False

    def _write_failed(self, kind: str, seg: _Active, exc: OSError, n: int) -> None:
        reason = drop_reason(exc)
        try:
            os.ftruncate(seg.fd, seg.size)
        except OSError:
            # the segment may end in a partial line now: seal it so nothing is appended
            # after that fragment; readers skip and count it
            self._seal(kind)
        self._lost(n, reason, exc)

    def _lost(self, n: int, reason: str, exc: OSError) -> None:
        self._drops.add(reason, n)
        self._failed_records += n
        if self._failing is None:
            self._failing = reason
            _log.warning(
                "rlhf-otel JSONL store %s cannot write (%s: %s); records are dropped and "
                "counted in dropped()[%r] until writing succeeds again",
                self._dir.path,
                reason,
                exc.strerror,
                reason,
            )

    def _open(self, kind: str) -> _Active:
        now = datetime.now(timezone.utc)
        # a clock that steps back must not reorder this writer's segments
        if now <= self._last_created:
            now = self._last_created + timedelta(microseconds=1)
        while True:
            self._seq += 1
            stem = stem_for(kind, now, self._writer, self._seq)
            try:
                fd = self._dir.create(stem + ACTIVE, append=True)
            except FileExistsError:
                continue
            break
        self._last_created = now
        self._dir_dirty = True
        seg = _Active(stem, fd, TailIndex(os.fstat(fd).st_ino))
        self._active[kind] = seg
        return seg

    # ------------------------------------------------------------------ sealing
    def _seal(self, kind: str) -> None:
        seg = self._active.pop(kind, None)
        if seg is None:
            return
        with contextlib.suppress(OSError):
            os.close(seg.fd)
        if seg.size == 0:
            self._dir.unlink(seg.stem + ACTIVE)
            return
        try:
            self._dir.rename(seg.stem + ACTIVE, seg.stem + PLAIN)
        except OSError as exc:
            _log.warning(
                "rlhf-otel JSONL store %s: cannot seal %s (%s); it is sealed at next open",
                self._dir.path,
                seg.stem,
                exc.strerror,
            )
            return
        self._dir_dirty = True
        self._on_seal(Sealed(seg.stem, kind, seg.index))

    def abandon(self) -> None:
        """Forget the active segments without touching them (in a forked child)."""
        for seg in self._active.values():
            with contextlib.suppress(OSError):
                os.close(seg.fd)
        self._active.clear()

    def seal_all(self) -> None:
        """Seal every active segment (before a purge, and at close)."""
        with self._lock:
            for kind in list(self._active):
                self._seal(kind)

    def close(self) -> None:
        """Seal everything and refuse later writes (they are counted as dropped)."""
        with self._lock:
            self.seal_all()
            self._closed = True

    # ------------------------------------------------------------------ reading support
    def active(self) -> dict[str, tuple[str, TailIndex, int]]:
        """stem -> (kind, index, committed size) of this writer's active segments."""
        with self._lock:
            return {s.stem: (k, s.index, s.size) for k, s in self._active.items()}

    # ------------------------------------------------------------------ durability
    def sync(self) -> bool:
        """fsync the active segments with unsynced data and the directory; ``False`` on error."""
        with self._lock:
            todo = []
            for seg in self._active.values():
                if seg.dirty:
                    todo.append(os.dup(seg.fd))
                    seg.dirty = False
            dir_dirty, self._dir_dirty = self._dir_dirty, False
        ok = True
        for fd in todo:
            ok = self._sync_fd(fd) and ok
            os.close(fd)
        if dir_dirty:
            self._dir.sync()
        return ok

    def _sync_fd(self, fd: int) -> bool:
        try:
            os.fdatasync(fd)
        except OSError as exc:
            _log.warning(
                "rlhf-otel JSONL store %s: fsync failed (%s); the last second of records "
                "may not survive a power loss",
                self._dir.path,
                exc.strerror,
            )
            return False
        return True
