"""Maintenance of the JSONL store: crash recovery, compression, retention and purge.

Everything here runs under the directory's maintenance lock, so two processes never
rewrite or delete the same segment at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from rlhf_otel.records import parse_timestamp
from rlhf_otel.stores._protocol import DropCounter
from rlhf_otel.stores.jsonl import _fs as _jsonl_fs
from rlhf_otel.stores.jsonl._format import (
    ACTIVE,
    GZ,
    IDX,
    MAX_LINE_BYTES,
    PLAIN,
    SUM,
    TORN,
    LineBlocks,
    gzip_member,
    loads_line,
)
from rlhf_otel.stores.jsonl._fs import DataDir, Listing
from rlhf_otel.stores.jsonl._index import IdxFile, IndexBuilder, TailIndex
from rlhf_otel.stores.jsonl._lines import gz_pieces, last_newline
from rlhf_otel.stores.jsonl._read import SegmentReader, simple_needle
from rlhf_otel.stores.jsonl._retain import drop_unrated

__all__ = ["Aborted", "Maintenance", "PurgeResult"]

_log = logging.getLogger("rlhf_otel.stores.jsonl")


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What a purge did."""

    removed: int
    rewritten: list[str]
    skipped_live: list[str]


class Aborted(Exception):
    """A compression stopped because the store is closing (nothing was changed)."""


class _Oversized(Exception):
    """A segment holds a line over the cap: rewriting it would lose what follows."""


class Maintenance:
    """The operations that change sealed files; each caller holds the maintenance lock.

    A segment holding a line longer than ``max_line`` is never rewritten (compressed or
    purged): reading stops there, so a rewrite would lose the lines after it.
    """

    def __init__(
        self,
        ddir: DataDir,
        owner: str,
        *,
        durable: bool,
        drops: DropCounter,
        max_line: int = MAX_LINE_BYTES,
    ):
        self._dir = ddir
        self._owner = owner
        self._durable = durable
        self._drops = drops
        self._max_line = max_line

    # ------------------------------------------------------------------ recovery
    def recover(self, listing: Listing) -> int:
        """Seal the active segments of writers that died, repairing torn tails; count them."""
        writers = set(listing.writers)
        for segs in listing.segments.values():
            writers.update(p.writer for p, _ in segs if p.suffix == ACTIVE)
        writers.update(p.temp_owner for p, _ in listing.others if p.temp_owner is not None)
        writers.discard(self._owner)
        repaired = 0
        for writer in sorted(writers):
            fd = self._dir.try_lock_writer(writer)
            if fd is None:
                continue
            try:
                for segs in listing.segments.values():
                    for p, name in segs:
                        if p.writer == writer and p.suffix == ACTIVE:
                            repaired += self._seal_orphan(p.stem, name)
                for p, name in listing.others:
                    if p.temp_owner == writer:
                        self._dir.unlink(name)
            finally:
                self._dir.release_writer(writer, fd, remove=True)
        for name in listing.unborn:
            self._dir.remove_unborn(name)
        for p, name in listing.others:
            if p.suffix == PLAIN and p.temp_owner is None:
                self._dir.unlink(name)  # the compressed twin is complete
        if repaired and self._durable:
            self._dir.sync()
        return repaired

    def _seal_orphan(self, stem: str, name: str) -> int:
        torn = self.repair_tail(stem, name)
        st = self._dir.stat(name)
        if st is not None and st.st_size == 0:
            self._dir.unlink(name)
        elif st is not None:
            self._dir.rename(name, stem + PLAIN)
        return torn

    def repair_tail(self, stem: str, name: str) -> int:
        """Move an unterminated last line aside to ``<stem>.torn``; 1 if there was one."""
        fd = self._dir.open_rw(name)
        try:
            size = os.fstat(fd).st_size
            if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
                return 0
            keep = last_newline(fd, size) + 1
            fragment = os.pread(fd, size - keep, keep)
            with contextlib.suppress(OSError):
                out = self._dir.open_append(stem + TORN)
                try:
                    _jsonl_fs.write_all(out, fragment + b"\n")
                    if self._durable:
                        os.fsync(out)
                finally:
                    os.close(out)
            os.ftruncate(fd, keep)
            if self._durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        self._drops.add("torn_line")
        _log.warning(
            "rlhf-otel JSONL store %s: a record torn by a crash (%d bytes) was moved aside "
            "to %s%s and counted in dropped()['torn_line']",
            self._dir.path,
            size - keep,
            stem,
            TORN,
        )
        return 1

    # ------------------------------------------------------------------ compression
    def compress(
        self,
        stem: str,
        index: TailIndex | None,
        *,
        stop: Callable[[], bool],
        tick: Callable[[], None],
    ) -> bool:
        """Replace ``<stem>.jsonl`` by ``<stem>.jsonl.gz`` (and its index); ``False`` if not."""
        if self._dir.stat(stem + GZ) is not None:
            self._dir.unlink(stem + PLAIN)
            return True
        try:
            fd = self._dir.open_read(stem + PLAIN)
        except FileNotFoundError:
            return False
        tmp = f"{stem}{GZ}.{self._owner}.tmp"
        try:
            self.repair_sealed_tail(stem, fd)
            out = self._dir.create(tmp)
        except OSError:
            os.close(fd)
            raise
        try:
            builder, raw_starts, offsets = self._write_members(fd, out, index is None, stop, tick)
            if self._durable:
                os.fsync(out)
            st = os.fstat(out)
        except _Oversized:
            os.close(out)
            os.close(fd)
            self._dir.unlink(tmp)
            _log.warning(
                "rlhf-otel JSONL store: %s holds a line over %d bytes; left uncompressed",
                stem,
                self._max_line,
            )
            return False
        except BaseException:
            os.close(out)
            os.close(fd)
            self._dir.unlink(tmp)
            raise
        os.close(out)
        os.close(fd)
        if index is not None:

            def member_of(loc: int) -> int:
                return offsets[bisect_right(raw_starts, loc) - 1]

            builder = index.to_builder(member_of)
        assert builder is not None
        try:
            self._dir.write_file(
                stem + IDX,
                builder.to_bytes(st.st_size, st.st_ino),
                owner=self._owner,
                durable=self._durable,
            )
            self._dir.rename(tmp, stem + GZ)
        except BaseException:
            self._dir.unlink(tmp)
            raise
        self._dir.unlink(stem + PLAIN)
        if self._durable:
            self._dir.sync()
        return True

    def _write_members(
        self,
        fd: int,
        out: int,
        scan: bool,
        stop: Callable[[], bool],
        tick: Callable[[], None],
    ) -> tuple[IndexBuilder | None, array[int], array[int]]:
        builder = IndexBuilder() if scan else None
        raw_starts, offsets = array("Q"), array("Q")
        out_pos = 0
        blocks = LineBlocks(fd, compressed=False, max_line=self._max_line)
        for loc, block in blocks:
            for piece_loc, piece in gz_pieces(loc, block):
                member = gzip_member(piece)
                _jsonl_fs.write_all(out, member)
                raw_starts.append(piece_loc)
                offsets.append(out_pos)
                if builder is not None:
                    builder.add_block(out_pos, piece, True)
                out_pos += len(member)
            if stop():
                raise Aborted
            tick()
        if blocks.oversized:
            raise _Oversized
        return builder, raw_starts, offsets

    def repair_sealed_tail(self, stem: str, fd: int) -> None:
        """A sealed plain segment must end with a whole line before it is rewritten."""
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            self.repair_tail(stem, stem + PLAIN)

    def index(self, stem: str, index: TailIndex) -> None:
        """Save the index of a just-sealed plain segment from the writer's in-memory one."""
        try:
            fd = self._dir.open_read(stem + PLAIN)
        except FileNotFoundError:
            return
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        data = index.to_builder().to_bytes(st.st_size, st.st_ino)
        self._dir.write_file(stem + IDX, data, owner=self._owner, durable=self._durable)

    # ------------------------------------------------------------------ retention
    def retention(
        self,
        listing: Listing,
        *,
        max_age_s: float | None,
        max_bytes: int | None,
        rated_max_age_s: float | None = None,
        reader: SegmentReader | None = None,
    ) -> tuple[int, int, list[str]]:
        """Apply the caps to sealed segments, oldest first; (deleted, records, rewritten).

        With ``rated_max_age_s`` (and the ``reader`` that finds which interactions were
        rated), a segment past ``max_age_s`` but not past ``rated_max_age_s`` is kept when it
        holds feedback and rewritten without its unrated interactions when it holds those.
        """
        sealed = sorted(
            (seg for segs in listing.segments.values() for seg in segs if seg[0].suffix != ACTIVE),
            key=lambda s: s[0].order,
        )
        sizes: dict[str, int] = {}
        total = 0
        for _, name in [*(s for segs in listing.segments.values() for s in segs), *listing.others]:
            st = self._dir.stat(name)
            if st is not None:
                sizes[name] = st.st_size
                total += st.st_size
        now = time.time()
        deleted = records = 0
        graying: list[tuple[str, str]] = []
        for parsed, name in sealed:
            st = self._dir.stat(name)
            if st is None:
                continue
            too_old = max_age_s is not None and st.st_mtime < now - max_age_s
            if too_old and rated_max_age_s is not None and st.st_mtime >= now - rated_max_age_s:
                too_old = False
                if parsed.kind == "interactions":
                    graying.append((parsed.stem, name))
            too_big = max_bytes is not None and total > max_bytes
            if not (too_old or too_big):
                continue
            records += self._records_in(parsed.stem, st)
            for extra in (name, parsed.stem + IDX, parsed.stem + SUM, parsed.stem + TORN):
                if self._dir.unlink(extra):
                    total -= sizes.get(extra, 0)
            deleted += 1
        rewritten: list[str] = []
        if graying and reader is not None:
            removed, rewritten = drop_unrated(self, graying, reader)
            records += removed
        if deleted or rewritten:
            _log.info(
                "rlhf-otel JSONL store %s: retention deleted %d segments and rewrote %d "
                "(%d records)",
                self._dir.path,
                deleted,
                len(rewritten),
                records,
            )
        return deleted, records, rewritten

    def _records_in(self, stem: str, st: os.stat_result) -> int:
        try:
            fd = self._dir.open_read(stem + IDX)
        except FileNotFoundError:
            return 0
        try:
            idx = IdxFile.load(fd)
        except (ValueError, OSError):
            return 0
        finally:
            os.close(fd)
        return idx.records if idx.seg_ino == st.st_ino else 0

    # ------------------------------------------------------------------ purge
    def purge(
        self, listing: Listing, *, before: datetime | None, user_id: str | None
    ) -> PurgeResult:
        """Rewrite every sealed segment without the matching records; count them."""
        needle = None if user_id is None else simple_needle("user_id", user_id)
        removed = 0
        rewritten: list[str] = []
        skipped: list[str] = []

        def doomed(line: bytes) -> bool:
            if needle is not None and needle not in line:
                return False
            d = loads_line(line)
            if d is None:
                return False
            if user_id is not None and d.get("user_id") != user_id:
                return False
            if before is not None:
                ts = d.get("timestamp")
                try:
                    return isinstance(ts, str) and parse_timestamp(ts) < before
                except ValueError:
                    return False
            return True

        for segs in listing.segments.values():
            for parsed, name in segs:
                if parsed.suffix == ACTIVE:
                    skipped.append(name)
                    continue
                n = self.rewrite(parsed.stem, name, doomed)
                if n:
                    removed += n
                    rewritten.append(parsed.stem)
        for parsed, name in listing.others:
            if parsed.suffix == TORN and self._torn_matches(name, before, user_id):
                self._dir.unlink(name)
        if rewritten and self._durable:
            self._dir.sync()
        return PurgeResult(removed, rewritten, skipped)

    def _torn_matches(self, name: str, before: datetime | None, user_id: str | None) -> bool:
        st = self._dir.stat(name)
        if st is None:
            return False
        if before is not None and st.st_mtime >= before.timestamp():
            return False
        if user_id is None:
            return True
        fd = self._dir.open_read(name)
        try:
            return user_id.encode() in os.pread(fd, st.st_size, 0)
        finally:
            os.close(fd)

    def rewrite(self, stem: str, name: str, doomed: Callable[[bytes], bool]) -> int:
        compressed = name.endswith(GZ)
        try:
            fd = self._dir.open_read(name)
        except FileNotFoundError:
            return 0
        tmp = f"{name}.{self._owner}.tmp"
        out = -1
        try:
            if not compressed:
                self.repair_sealed_tail(stem, fd)
            removed = 0
            builder = IndexBuilder()
            out_pos = 0
            out = self._dir.create(tmp)
            for loc, kept in _kept_blocks(fd, compressed, doomed, self._max_line):
                removed += kept[1]
                if not kept[0]:
                    continue
                pieces = gz_pieces(loc, kept[0]) if compressed else [(loc, kept[0])]
                for _, piece in pieces:
                    data = gzip_member(piece) if compressed else piece
                    _jsonl_fs.write_all(out, data)
                    builder.add_block(out_pos, piece, compressed)
                    out_pos += len(data)
            if not removed:
                return 0
            if self._durable:
                os.fsync(out)
            st = os.fstat(out)
            os.close(out)
            out = -1
            self._dir.unlink(stem + SUM)
            if builder.records == 0:
                self._dir.unlink(stem + IDX)
                self._dir.unlink(name)
                return removed
            self._dir.write_file(
                stem + IDX,
                builder.to_bytes(st.st_size, st.st_ino),
                owner=self._owner,
                durable=self._durable,
            )
            self._dir.rename(tmp, name)
            return removed
        except _Oversized:
            _log.warning(
                "rlhf-otel JSONL store: %s holds a line over %d bytes; not purged",
                stem,
                self._max_line,
            )
            return 0
        finally:
            if out >= 0:
                os.close(out)
            os.close(fd)
            self._dir.unlink(tmp)


def _kept_blocks(
    fd: int, compressed: bool, doomed: Callable[[bytes], bool], max_line: int
) -> Iterator[tuple[int, tuple[bytes, int]]]:
    blocks = LineBlocks(fd, compressed=compressed, max_line=max_line)
    for loc, block in blocks:
        lines = block.split(b"\n")[:-1]
        keep = [line for line in lines if not doomed(line)]
        yield loc, ((b"\n".join(keep) + b"\n") if keep else b"", len(lines) - len(keep))
    if blocks.oversized:
        raise _Oversized
