"""Id indexes of the JSONL store: sorted hash files for sealed segments, tails for live ones.

An index maps the 64-bit hash of an id to the location of the line holding it (the line's
offset in a plain segment, the offset of its gzip member in a compressed one). Feedback
segments also index every target interaction id. A hit is always confirmed by parsing the
line, so hash collisions cost a read, never a wrong answer.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import sys
import threading
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from rlhf_otel.stores.jsonl._format import MAX_LINE_BYTES, LineBlocks, id_hash, loads_line

__all__ = ["IdxFile", "IndexBuilder", "TailIndex", "line_keys"]

_MAGIC: Final = b"RLHFIDX1"
_HEADER: Final = struct.Struct("<8sQQQQQ32s32s")
_HEADER_SIZE: Final = 128
_LITTLE: Final = sys.byteorder == "little"
_INTERACTION_KEYS: Final = re.compile(
    rb'\{"schema_version":\d+,"kind":"interaction","id":"([^"\\]*)","timestamp":"([^"\\]*)"'
)


def line_keys(line: bytes) -> tuple[str, tuple[str, ...], str] | None:
    """``(id, target ids, timestamp)`` of a record line, or ``None`` if it is not one."""
    m = _INTERACTION_KEYS.match(line)
    if m is not None:
        return m.group(1).decode(), (), m.group(2).decode()
    d = loads_line(line)
    if d is None or not isinstance(d.get("id"), str):
        return None
    ts = d.get("timestamp")
    ts = ts if isinstance(ts, str) else ""
    if d.get("kind") != "feedback":
        return d["id"], (), ts
    targets = [d.get("interaction_id"), *(d.get("target_ids") or ())]
    return d["id"], tuple(dict.fromkeys(t for t in targets if isinstance(t, str))), ts


_INTERACTION_BLOCK: Final = re.compile(
    rb'\n\{"schema_version":\d+,"kind":"interaction","id":"([^"\\\n]*)","timestamp":"([^"\\\n]*)"'
)
_FEEDBACK_BLOCK: Final = re.compile(
    rb'\n\{"schema_version":\d+,"kind":"feedback","id":"([^"\\\n]*)",'
    rb'"interaction_id":"([^"\\\n]*)",[^\n]*,"target_ids":\[("[^"\\\n]*"(?:,"[^"\\\n]*")*)?\],'
    rb'"trace_id":(?:null|"[^"\\\n]*"),"span_id":(?:null|"[^"\\\n]*")'
    rb'(?:,"supersedes":(?:null|"[^"\\\n]*"))?\}(?=\n)'
)
Keys = tuple[int, str, tuple[str, ...], str]
"""(offset of the line in its block, id, target ids, timestamp or "")."""


def block_keys(block: bytes) -> list[Keys]:
    """The keys of every record line in a block of whole lines (regex, else JSON per line)."""
    buf = b"\n" + block
    out: list[Keys] = []
    if block.startswith(b'{"schema_version":1,"kind":"interaction",'):
        for m in _INTERACTION_BLOCK.finditer(buf):
            out.append((m.start(), m.group(1).decode(), (), m.group(2).decode()))
    else:
        for m in _FEEDBACK_BLOCK.finditer(buf):
            iid = m.group(2).decode()
            raw = m.group(3)
            if raw is None or raw == b'"' + m.group(2) + b'"':
                targets: tuple[str, ...] = (iid,)
            else:
                named = [t.decode() for t in raw[1:-1].split(b'","')]
                targets = tuple(dict.fromkeys((iid, *named)))
            out.append((m.start(), m.group(1).decode(), targets, ""))
    if len(out) == block.count(b"\n"):
        return out
    out = []
    pos = 0
    for line in block.split(b"\n")[:-1]:
        keys = line_keys(line)
        if keys is not None:
            out.append((pos, *keys))
        pos += len(line) + 1
    return out


class IndexBuilder:
    """Collects ``(hash, loc)`` pairs and the time span of one segment's lines."""

    def __init__(self) -> None:
        self.id_hashes: list[int] = []
        self.id_locs: list[int] = []
        self.tgt_hashes: list[int] = []
        self.tgt_locs: list[int] = []
        self.records = 0
        self.min_ts = ""
        self.max_ts = ""

    def add_block(self, loc: int, block: bytes, compressed: bool) -> None:
        """Index every record line of a block; lines of a compressed block share ``loc``."""
        keys = block_keys(block)
        if not keys:
            return
        crc, adler = zlib.crc32, zlib.adler32
        locs = [loc] * len(keys) if compressed else [loc + k[0] for k in keys]
        self.id_locs += locs
        self.id_hashes += [crc(b) << 32 | adler(b) for b in (k[1].encode() for k in keys)]
        for k, line_loc in zip(keys, locs, strict=True):
            for t in k[2]:
                self.tgt_locs.append(line_loc)
                self.tgt_hashes.append(id_hash(t))
        self.records += len(keys)
        stamps = [k[3] for k in keys if k[3]]
        if stamps:
            lo, hi = min(stamps), max(stamps)
            if not self.min_ts or lo < self.min_ts:
                self.min_ts = lo
            if hi > self.max_ts:
                self.max_ts = hi

    def to_bytes(self, seg_size: int, seg_ino: int) -> bytes:
        """The index file for a segment of this size and inode."""
        header = _HEADER.pack(
            _MAGIC,
            seg_size,
            seg_ino,
            self.records,
            len(self.id_hashes),
            len(self.tgt_hashes),
            self.min_ts.encode()[:32],
            self.max_ts.encode()[:32],
        ).ljust(_HEADER_SIZE, b"\0")
        parts = [header]
        for hashes, locs in ((self.id_hashes, self.id_locs), (self.tgt_hashes, self.tgt_locs)):
            # a stable sort by hash keeps equal hashes in file order
            order = sorted(range(len(hashes)), key=hashes.__getitem__)
            h_arr = array("Q", [hashes[i] for i in order])
            l_arr = array("Q", [locs[i] for i in order])
            if not _LITTLE:
                h_arr.byteswap()
                l_arr.byteswap()
            parts += [h_arr.tobytes(), l_arr.tobytes()]
        return b"".join(parts)


@dataclass(frozen=True, slots=True)
class _Section:
    hashes: memoryview | array[int]
    locs: memoryview | array[int]

    def find(self, h: int) -> list[int]:
        i = bisect_left(self.hashes, h)
        out = []
        n = len(self.hashes)
        while i < n and self.hashes[i] == h:
            out.append(self.locs[i])
            i += 1
        return out


class IdxFile:
    """A loaded index file (memory-mapped: only the pages a lookup touches are read)."""

    def __init__(self, buf: bytes | mmap.mmap) -> None:
        size = len(buf)
        if size < _HEADER_SIZE:
            raise ValueError("index file too short")
        self._buf = buf
        magic, seg_size, seg_ino, records, n_ids, n_tgts, lo, hi = _HEADER.unpack_from(buf)
        if magic != _MAGIC or size != _HEADER_SIZE + 16 * (n_ids + n_tgts):
            raise ValueError("not an index file of this version")
        self.seg_size: int = seg_size
        self.seg_ino: int = seg_ino
        self.records: int = records
        self.min_ts: str = lo.rstrip(b"\0").decode()
        self.max_ts: str = hi.rstrip(b"\0").decode()
        view = memoryview(buf)
        pos = _HEADER_SIZE
        sections = []
        for n in (n_ids, n_tgts):
            hashes, locs = view[pos : pos + 8 * n], view[pos + 8 * n : pos + 16 * n]
            pos += 16 * n
            if _LITTLE:
                sections.append(_Section(hashes.cast("Q"), locs.cast("Q")))
            else:
                ha, la = array("Q", hashes.tobytes()), array("Q", locs.tobytes())
                ha.byteswap()
                la.byteswap()
                sections.append(_Section(ha, la))
        self._ids, self._targets = sections

    @classmethod
    def load(cls, fd: int) -> IdxFile:
        """Map an index file (only the pages a lookup touches are ever read)."""
        size = os.fstat(fd).st_size
        if size < _HEADER_SIZE:
            raise ValueError("index file too short")
        return cls(mmap.mmap(fd, size, prot=mmap.PROT_READ))

    def find(self, rid: str) -> list[int]:
        """Locations of lines whose id hashes like ``rid``."""
        return self._ids.find(id_hash(rid))

    def find_target(self, target: str) -> list[int]:
        """Locations of feedback lines naming ``target`` among their interactions."""
        return self._targets.find(id_hash(target))

    def target_hashes(self) -> Iterable[int]:
        """The hash of every target interaction id (with repeats)."""
        return self._targets.hashes


class TailIndex:
    """The in-memory index of a segment still being appended to.

    The writing process fills it as it writes (no read-back); other processes extend it
    from the file on each use. Entries cost 16 bytes of memory per id.
    """

    def __init__(self, ino: int) -> None:
        self.ino = ino
        self.upto = 0
        self.records = 0
        self.min_ts = ""
        self.max_ts = ""
        self.lock = threading.Lock()
        self._ids = bytearray()
        self._id_locs = array("Q")
        self._tgts = bytearray()
        self._tgt_locs = array("Q")

    def add(self, rid: str, targets: Iterable[str], loc: int, ts: str) -> None:
        """Index one record written at ``loc``."""
        # locations first: a concurrent find() must never see a hash without its location
        self._id_locs.append(loc)
        self._ids += _PACK(id_hash(rid))
        for t in targets:
            self._tgt_locs.append(loc)
            self._tgts += _PACK(id_hash(t))
        self.records += 1
        if ts:
            if not self.min_ts or ts < self.min_ts:
                self.min_ts = ts
            if ts > self.max_ts:
                self.max_ts = ts

    def add_batch(
        self,
        rids: list[str],
        targets: list[tuple[str, ...]],
        locs: list[int],
        stamps: list[str],
    ) -> None:
        """Index records written at ``locs`` (the writer's fast path; same as ``add``)."""
        crc, adler = zlib.crc32, zlib.adler32
        hashes = array("Q", [crc(b) << 32 | adler(b) for b in (r.encode() for r in rids)])
        self._id_locs.extend(locs)
        self._ids += hashes.tobytes()
        for tgts, loc in zip(targets, locs, strict=True):
            for t in tgts:
                self._tgt_locs.append(loc)
                self._tgts += _PACK(id_hash(t))
        self.records += len(rids)
        stamps = [ts for ts in stamps if ts]
        if stamps:
            lo, hi = min(stamps), max(stamps)
            if not self.min_ts or lo < self.min_ts:
                self.min_ts = lo
            if hi > self.max_ts:
                self.max_ts = hi

    def update(self, fd: int, size: int, max_line: int = MAX_LINE_BYTES) -> None:
        """Index the complete lines between the last update and ``size`` (read from file)."""
        if size <= self.upto:
            return
        blocks = LineBlocks(fd, compressed=False, start=self.upto, end=size, max_line=max_line)
        for loc, block in blocks:
            for pos, rid, targets, ts in block_keys(block):
                self.add(rid, targets, loc + pos, ts)
        self.upto = blocks.resume

    def find(self, rid: str) -> list[int]:
        """Locations of lines whose id hashes like ``rid``."""
        return [self._id_locs[i] for i in _find_all(self._ids, id_hash(rid))]

    def find_target(self, target: str) -> list[int]:
        """Locations of feedback lines naming ``target``."""
        return [self._tgt_locs[i] for i in _find_all(self._tgts, id_hash(target))]

    def target_hashes(self) -> Iterable[int]:
        """The hash of every target interaction id (with repeats)."""
        return memoryview(bytes(self._tgts)).cast("Q").tolist()

    def to_builder(self, relocate: Callable[[int], int] | None = None) -> IndexBuilder:
        """An :class:`IndexBuilder` with these entries (``relocate`` maps each location)."""
        b = IndexBuilder()
        b.id_hashes = memoryview(bytes(self._ids)).cast("Q").tolist()
        b.tgt_hashes = memoryview(bytes(self._tgts)).cast("Q").tolist()
        b.id_locs, b.tgt_locs = self._id_locs.tolist(), self._tgt_locs.tolist()
        if relocate is not None:
            b.id_locs = [relocate(loc) for loc in b.id_locs]
            b.tgt_locs = [relocate(loc) for loc in b.tgt_locs]
        b.records, b.min_ts, b.max_ts = self.records, self.min_ts, self.max_ts
        return b


_PACK: Final = struct.Struct("=Q").pack


def _find_all(buf: bytearray, h: int) -> list[int]:
    needle = _PACK(h)
    out = []
    i = buf.find(needle)
    while i != -1:
        if i % 8 == 0:
            out.append(i // 8)
        i = buf.find(needle, i + 1)
    return out
