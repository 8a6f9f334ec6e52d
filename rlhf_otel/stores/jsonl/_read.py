"""The reading side of the JSONL store: segments in order, id lookups, line iteration."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from rlhf_otel.stores.jsonl._format import (
    ACTIVE,
    GZ,
    IDX,
    MAX_LINE_BYTES,
    PLAIN,
    LineBlocks,
    SegmentName,
    loads_line,
    read_gz_lines_at,
)
from rlhf_otel.stores.jsonl._fs import DataDir
from rlhf_otel.stores.jsonl._index import IdxFile, IndexBuilder, TailIndex

__all__ = ["Problems", "SegmentReader", "simple_needle"]

_log = logging.getLogger("rlhf_otel.stores.jsonl")
_SIMPLE: Final = re.compile(r"[A-Za-z0-9 ._:@/+=#~!$%&'()*,;?\[\]{}^|<>-]*")
_IDX_CACHE_MAX: Final = 256
_FALLBACK: Final = {ACTIVE: (ACTIVE, PLAIN, GZ), PLAIN: (PLAIN, GZ), GZ: (GZ,)}
_KIND_OF_LINE: Final = {"interactions": "interaction", "feedback": "feedback"}
Segment = tuple[SegmentName, str]


def simple_needle(key: str, value: str) -> bytes | None:
    """The exact bytes ``"key":"value"`` has on a line, when every encoder agrees on them."""
    if _SIMPLE.fullmatch(value) is None:
        return None
    return f'"{key}":"{value}"'.encode()


class Problems:
    """Distinct unreadable things seen while reading, counted once each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str, int]] = set()
        self._counts: Counter[str] = Counter()

    def add(self, what: str, stem: str, loc: int, *, quiet: bool = False) -> None:
        """Count ``what`` at ``stem``:``loc`` unless it was counted before (``quiet``: no
        log line)."""
        key = (what, stem, loc)
        with self._lock:
            if key in self._seen:
                return
            if len(self._seen) < 100_000:
                self._seen.add(key)
            self._counts[what] += 1
        if quiet:
            return
        _log.warning("rlhf-otel JSONL store: %s in segment %s at %d was skipped", what, stem, loc)

    def snapshot(self) -> dict[str, int]:
        """Counts by kind of problem."""
        with self._lock:
            return dict(self._counts)


class SegmentReader:
    """Reads one store directory; safe to use from any thread."""

    def __init__(
        self,
        ddir: DataDir,
        owner: str,
        *,
        durable: bool,
        own_active: Callable[[], dict[str, tuple[str, TailIndex, int]]],
        pending: dict[str, TailIndex],
        problems: Problems,
        max_line: int = MAX_LINE_BYTES,
    ) -> None:
        self._dir = ddir
        self._max_line = max_line
        self._owner = owner
        self._durable = durable
        self._own_active = own_active
        self._pending = pending
        self.problems = problems
        self._lock = threading.Lock()
        self._idx: OrderedDict[str, tuple[int, int, IdxFile]] = OrderedDict()
        self._tails: dict[str, TailIndex] = {}
        self._building: dict[str, threading.Lock] = {}

    # ------------------------------------------------------------------ segments
    def segments(self, kind: str) -> list[Segment]:
        """This kind's segments, oldest first."""
        return self._dir.listing().segments[kind]

    @contextlib.contextmanager
    def opened(self, seg: Segment) -> Iterator[tuple[int, str] | None]:
        """``(fd, current file name)`` of a segment, following it through seal/compress."""
        parsed, name = seg
        for suffix in _FALLBACK[parsed.suffix]:
            try:
                fd = self._dir.open_read(parsed.stem + suffix)
            except FileNotFoundError:
                continue
            try:
                yield fd, parsed.stem + suffix
            finally:
                os.close(fd)
            return
        yield None

    def readable_end(self, stem: str, name: str, fd: int) -> int | None:
        """Where reading an active segment stops (its writer's committed size), else None."""
        if not name.endswith(ACTIVE):
            return None
        own = self._own_active().get(stem)
        return own[2] if own is not None else os.fstat(fd).st_size

    # ------------------------------------------------------------------ indexes
    def index_of(self, stem: str, name: str, fd: int, *, build: bool = True) -> Any:
        """An object with ``find``/``find_target`` for this segment file (None if not built)."""
        if name.endswith(ACTIVE):
            own = self._own_active().get(stem)
            if own is not None:
                return own[1]
            st = os.fstat(fd)
            with self._lock:
                tail = self._tails.get(stem)
                if tail is None or tail.ino != st.st_ino:
                    tail = self._tails[stem] = TailIndex(st.st_ino)
            with tail.lock:
                tail.update(fd, st.st_size, self._max_line)
            return tail
        with self._lock:
            self._tails.pop(stem, None)
        if name.endswith(PLAIN):
            pending = self._pending.get(stem)
            if pending is not None:
                return pending
        return self.idx_file(stem, fd, compressed=name.endswith(GZ), build=build)

    def idx_file(self, stem: str, fd: int, *, compressed: bool, build: bool) -> IdxFile | None:
        """The valid index file of a sealed segment, built and saved if missing or stale."""
        st = os.fstat(fd)
        with self._lock:
            hit = self._idx.get(stem)
            if hit is not None and hit[0] == st.st_ino and hit[1] == st.st_size:
                self._idx.move_to_end(stem)
                return hit[2]
            lock = self._building.setdefault(stem, threading.Lock())
        with lock:
            idx = self._load_idx(stem, st)
            if idx is None and build:
                idx = self._build_idx(stem, fd, st, compressed)
            if idx is not None:
                with self._lock:
                    self._idx[stem] = (st.st_ino, st.st_size, idx)
                    while len(self._idx) > _IDX_CACHE_MAX:
                        self._idx.popitem(last=False)
        return idx

    def _load_idx(self, stem: str, st: os.stat_result) -> IdxFile | None:
        try:
            fd = self._dir.open_read(stem + IDX)
        except FileNotFoundError:
            return None
        try:
            idx = IdxFile.load(fd)
        except (ValueError, OSError):
            return None
        finally:
            os.close(fd)
        if idx.seg_ino != st.st_ino or idx.seg_size != st.st_size:
            return None
        return idx

    def _build_idx(self, stem: str, fd: int, st: os.stat_result, compressed: bool) -> IdxFile:
        builder = IndexBuilder()
        blocks = LineBlocks(fd, compressed=compressed, max_line=self._max_line)
        for loc, block in blocks:
            builder.add_block(loc, block, compressed)
        data = builder.to_bytes(st.st_size, st.st_ino)
        try:
            self._dir.write_file(stem + IDX, data, owner=self._owner, durable=self._durable)
        except OSError as exc:
            _log.info("rlhf-otel JSONL store: index of %s kept in memory (%s)", stem, exc)
        return IdxFile(data)

    def forget(self, stem: str) -> None:
        """Drop cached state of a segment rewritten or deleted by this process."""
        with self._lock:
            self._idx.pop(stem, None)
            self._tails.pop(stem, None)

    # ------------------------------------------------------------------ lookups
    def lookup(self, kind: str, rid: str) -> dict[str, Any] | None:
        """The newest record of ``kind`` with id ``rid``."""
        want = _KIND_OF_LINE[kind]
        needle = simple_needle("id", rid)
        for seg in reversed(self.segments(kind)):
            with self.opened(seg) as opened:
                if opened is None:
                    continue
                fd, name = opened
                index = self.index_of(seg[0].stem, name, fd)
                locs = index.find(rid)
                if not locs:
                    continue
                compressed = name.endswith(GZ)
                for loc in sorted(set(locs), reverse=True):
                    for line in reversed(_lines_at(fd, loc, compressed, self._max_line)):
                        if needle is not None and needle not in line:
                            continue
                        d = loads_line(line)
                        if d is not None and d.get("id") == rid and d.get("kind") == want:
                            return d
        return None

    def lookup_many(self, kind: str, rids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The newest record of ``kind`` for each of ``rids`` that has one; each segment is
        opened once for all of them."""
        want = _KIND_OF_LINE[kind]
        missing = set(rids)
        found: dict[str, dict[str, Any]] = {}
        for seg in reversed(self.segments(kind)):
            if not missing:
                break
            with self.opened(seg) as opened:
                if opened is None:
                    continue
                fd, name = opened
                index = self.index_of(seg[0].stem, name, fd)
                locs = sorted({loc for rid in missing for loc in index.find(rid)})
                compressed = name.endswith(GZ)
                here: dict[str, dict[str, Any]] = {}
                for loc in locs:
                    for line in _lines_at(fd, loc, compressed, self._max_line):
                        d = loads_line(line)
                        if d is not None and d.get("kind") == want and d.get("id") in missing:
                            here[d["id"]] = d  # a later line of the segment is newer
                found.update(here)
                missing -= here.keys()
        return found

    def lookup_targets(self, targets: list[str]) -> Iterator[dict[str, Any]]:
        """Feedback naming any of ``targets``, oldest written first, each once."""
        wanted = set(targets)
        for seg in self.segments("feedback"):
            with self.opened(seg) as opened:
                if opened is None:
                    continue
                fd, name = opened
                index = self.index_of(seg[0].stem, name, fd)
                locs = sorted({loc for t in wanted for loc in index.find_target(t)})
                compressed = name.endswith(GZ)
                for loc in locs:
                    for line in _lines_at(fd, loc, compressed, self._max_line):
                        d = loads_line(line)
                        if d is None or d.get("kind") != "feedback":
                            continue
                        if {d.get("interaction_id"), *(d.get("target_ids") or ())} & wanted:
                            yield d

    # ------------------------------------------------------------------ scans
    def segment_blocks(self, stem: str, name: str, fd: int) -> Iterator[tuple[int, bytes]]:
        """``(loc, block of whole lines)`` of one open segment; problems are counted."""
        end = self.readable_end(stem, name, fd)
        blocks = LineBlocks(fd, compressed=name.endswith(GZ), end=end, max_line=self._max_line)
        yield from blocks
        for loc in blocks.oversized:
            self.problems.add("oversized_line", stem, loc)
        if blocks.tail and end is None:
            self.problems.add("torn_line", stem, -1)
        if blocks.truncated:
            self.problems.add("truncated_gzip", stem, -1)
        if blocks.corrupt:
            self.problems.add("corrupt_gzip", stem, -1)

    def iter_blocks(
        self, kind: str, lo: str | None = None, hi: str | None = None
    ) -> Iterator[tuple[str, int, bytes]]:
        """``(stem, loc, block of whole lines)`` over every segment, oldest first.

        Segments whose indexed time span lies outside ``[lo, hi]`` (canonical timestamps)
        are skipped when their index says so; nothing is built for that.
        """
        for seg in self.segments(kind):
            with self.opened(seg) as opened:
                if opened is None:
                    continue
                fd, name = opened
                stem = seg[0].stem
                if (lo is not None or hi is not None) and self._outside(stem, name, fd, lo, hi):
                    continue
                for loc, block in self.segment_blocks(stem, name, fd):
                    yield stem, loc, block

    def _outside(self, stem: str, name: str, fd: int, lo: str | None, hi: str | None) -> bool:
        if name.endswith(ACTIVE):
            own = self._own_active().get(stem)
            span = None if own is None else (own[1].min_ts, own[1].max_ts)
        else:
            idx = self.idx_file(stem, fd, compressed=name.endswith(GZ), build=False)
            span = None if idx is None else (idx.min_ts, idx.max_ts)
        if span is None or not span[0] or not _canonical(span[0]) or not _canonical(span[1]):
            return False
        return (hi is not None and span[0] > hi) or (lo is not None and span[1] < lo)

    def iter_dicts(
        self,
        kind: str,
        keep: Callable[[bytes], bool] | None = None,
        lo: str | None = None,
        hi: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every readable record of ``kind`` whose raw line passes ``keep``, oldest first."""
        want = _KIND_OF_LINE[kind]
        for stem, loc, block in self.iter_blocks(kind, lo, hi):
            pos = 0
            for line in block.split(b"\n")[:-1]:
                pos += len(line) + 1
                if not line or (keep is not None and not keep(line)):
                    continue
                d = loads_line(line)
                if d is None or d.get("kind") != want:
                    self.problems.add("unreadable_line", stem, loc + pos - len(line) - 1)
                    continue
                yield d


def _canonical(ts: str) -> bool:
    return len(ts) == 27 and ts.endswith("Z")


def _read_all(fd: int) -> bytes:
    parts = []
    while chunk := os.read(fd, 1 << 22):
        parts.append(chunk)
    return b"".join(parts)


def _lines_at(fd: int, loc: int, compressed: bool, max_line: int) -> list[bytes]:
    if compressed:
        return read_gz_lines_at(fd, loc, max_line)
    buf = bytearray()
    pos = loc
    while len(buf) <= max_line:
        chunk = os.pread(fd, min(max(8192, len(buf)), 1 << 20), pos)
        if not chunk:
            return [bytes(buf)] if buf else []
        nl = chunk.find(b"\n")
        if nl >= 0:
            return [bytes(buf) + chunk[:nl]]
        buf += chunk
        pos += len(chunk)
    return []
