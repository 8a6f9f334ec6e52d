"""Bytes on disk for the JSONL store: line encoding, segment names, gzip members, id hashes."""

from __future__ import annotations

import json
import os
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from rlhf_otel.records import json_default

_orjson: Any
try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only where the extra is missing
    _orjson = None

__all__ = [
    "ACTIVE",
    "GZ",
    "IDX",
    "KINDS",
    "MAX_LINE_BYTES",
    "PLAIN",
    "SUM",
    "TORN",
    "LineBlocks",
    "SegmentName",
    "dumps_line",
    "gzip_member",
    "id_hash",
    "loads_line",
    "parse_name",
    "read_gz_lines_at",
]

KINDS: Final = ("interactions", "feedback")
ACTIVE: Final = ".active.jsonl"
PLAIN: Final = ".jsonl"
GZ: Final = ".jsonl.gz"
IDX: Final = ".idx"
SUM: Final = ".sum"
TORN: Final = ".torn"
GZ_MEMBER_BYTES: Final = 64 * 1024
"""Raw bytes per gzip member: a lookup in a compressed segment inflates one member."""
MAX_LINE_BYTES: Final = 64 << 20
"""Default bound on one line (record): longer lines are not written, and skipped on read."""
_READ_CHUNK: Final = 1 << 20
_INFLATE_CHUNK: Final = 1 << 20

_NAME_RE: Final = re.compile(
    r"(interactions|feedback)-(\d{8}T\d{12}Z)-([0-9a-f]{8})-(\d{6,})"
    r"(\.active\.jsonl|\.jsonl\.gz|\.jsonl|\.idx|\.sum|\.torn|\.[a-z0-9.]+\.([0-9a-f]{8})\.tmp)"
)


@dataclass(frozen=True, slots=True)
class SegmentName:
    """A parsed file name of this store: ``<kind>-<created>-<writer>-<seq><suffix>``."""

    kind: str
    created: str
    writer: str
    seq: int
    suffix: str
    temp_owner: str | None

    @property
    def stem(self) -> str:
        """The name without its suffix: the segment's identity across its life."""
        return f"{self.kind}-{self.created}-{self.writer}-{self.seq:06d}"

    @property
    def order(self) -> tuple[str, str, int]:
        """Sort key: creation time, then writer, then sequence."""
        return (self.created, self.writer, self.seq)


def parse_name(name: str) -> SegmentName | None:
    """The parts of one of this store's file names, or ``None`` for any other name."""
    m = _NAME_RE.fullmatch(name)
    if m is None:
        return None
    suffix = m.group(5)
    owner = m.group(6)
    return SegmentName(m.group(1), m.group(2), m.group(3), int(m.group(4)), suffix, owner)


def stem_for(kind: str, created: datetime, writer: str, seq: int) -> str:
    """A new segment stem; ``created`` is UTC."""
    return f"{kind}-{created.strftime('%Y%m%dT%H%M%S%f')}Z-{writer}-{seq:06d}"


def dumps_line(record: Mapping[str, Any]) -> bytes:
    """One compact JSON line (UTF-8, ``\\n``-terminated); odd values become their ``repr``."""
    if _orjson is not None:
        try:
            options = _orjson.OPT_NON_STR_KEYS
            line: bytes = _orjson.dumps(record, default=json_default, option=options)
            return line + b"\n"
        except TypeError:
            pass  # e.g. an int beyond 64 bits: the stdlib encoder takes anything
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=json_default)
    return text.encode("utf-8", "surrogatepass") + b"\n"


def loads_line(line: bytes) -> dict[str, Any] | None:
    """The object on one line, or ``None`` if the line is not a JSON object."""
    obj: Any
    try:
        obj = _orjson.loads(line) if _orjson is not None else json.loads(line)
    except ValueError:
        try:  # the stdlib encoder may have written NaN, which orjson refuses
            obj = json.loads(line)
        except ValueError:
            return None
    return obj if isinstance(obj, dict) else None


def id_hash(value: str | bytes) -> int:
    """A stable 64-bit hash of an id (same in every process, unlike ``hash``)."""
    b = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    return (zlib.crc32(b) << 32) | zlib.adler32(b)


def gzip_member(raw: bytes, level: int = 6) -> bytes:
    """One complete gzip member holding ``raw``; members concatenate into a valid .gz."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(raw) + c.flush()


class LineBlocks:
    """Whole-line blocks of a segment, read in chunks, with where each block starts.

    Iterating yields ``(loc, block)``: ``block`` is one or more complete lines (each ending
    in ``\\n``); ``loc`` is the file offset of the block (plain) or of the gzip member the
    block's first line starts in (compressed). After iteration: ``tail`` holds an
    unterminated final fragment (a torn line), ``truncated`` says a compressed file ended
    mid-member, ``corrupt`` says inflating failed (every line before it was given back).

    A line longer than ``max_line`` bytes is never held whole: it is skipped, and where it
    starts is added to ``oversized``, so memory stays within about ``max_line`` plus a chunk.
    In a plain file reading resumes after its newline; in a compressed one the rest of the
    file is skipped, since finding that newline means inflating all of the line (a gzip
    bomb inflates to gigabytes). ``resume`` is where the next unread line of a plain file
    starts.
    """

    def __init__(
        self,
        fd: int,
        *,
        compressed: bool,
        start: int = 0,
        end: int | None = None,
        max_line: int = MAX_LINE_BYTES,
    ):
        self._fd = fd
        self._compressed = compressed
        self._start = start
        self._end = end
        self._max_line = max_line
        self.tail = b""
        self.truncated = False
        self.corrupt = False
        self.oversized: list[int] = []
        self.resume = start

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        return self._gz() if self._compressed else self._plain()

    def _read(self, pos: int) -> bytes:
        n = _READ_CHUNK if self._end is None else min(_READ_CHUNK, self._end - pos)
        return _pread(self._fd, n, pos) if n > 0 else b""

    def _plain(self) -> Iterator[tuple[int, bytes]]:
        pos = self._start
        carry, carry_loc = bytearray(), pos
        skipping = False
        while True:
            chunk = self._read(pos)
            if not chunk:
                break
            chunk_pos = pos
            pos += len(chunk)
            if skipping:
                nl = chunk.find(b"\n")
                if nl < 0:
                    continue
                skipping = False
                chunk, chunk_pos = chunk[nl + 1 :], chunk_pos + nl + 1
                self.resume = carry_loc = chunk_pos
            cut = chunk.rfind(b"\n") + 1
            if not cut:
                carry += chunk
            else:
                if carry:
                    yield carry_loc, bytes(carry) + chunk[:cut]
                else:
                    yield chunk_pos, chunk[:cut]
                self.resume = carry_loc = chunk_pos + cut
                carry = bytearray(chunk[cut:])
            if len(carry) > self._max_line:
                self.oversized.append(carry_loc)
                carry, skipping = bytearray(), True
        self.tail = bytes(carry)

    def _gz(self) -> Iterator[tuple[int, bytes]]:
        pos = member = self._start
        d = zlib.decompressobj(31)
        fed = False
        carry, carry_loc = bytearray(), member
        data = b""
        while True:
            if not data:
                data = self._read(pos)
                pos += len(data)
                if not data:
                    break
            try:
                out = d.decompress(data, _INFLATE_CHUNK)
            except zlib.error:
                self.corrupt = True
                break
            fed = True
            data = d.unconsumed_tail
            if d.eof:
                data = d.unused_data
                out += d.flush()
            if out:
                cut = out.rfind(b"\n") + 1
                if not cut:
                    if not carry:
                        carry_loc = member
                    carry += out
                else:
                    if carry:
                        first = out.find(b"\n") + 1
                        yield carry_loc, bytes(carry) + out[:first]
                        if first < cut:
                            yield member, out[first:cut]
                    else:
                        yield member, out[:cut]
                    carry, carry_loc = bytearray(out[cut:]), member
            if len(carry) > self._max_line:
                self.oversized.append(carry_loc)
                return
            if d.eof:
                member = pos - len(data)
                d = zlib.decompressobj(31)
                fed = False
        if fed and not d.eof and not self.corrupt:
            self.truncated = True
            try:
                rest = d.flush()
            except zlib.error:
                rest = b""
            carry += rest
            cut = carry.rfind(b"\n") + 1
            if cut:
                yield carry_loc, bytes(carry[:cut])
                carry = carry[cut:]
        self.tail = bytes(carry)


def _pread(fd: int, n: int, pos: int) -> bytes:
    return os.pread(fd, n, pos)


def read_gz_lines_at(fd: int, loc: int, max_line: int = MAX_LINE_BYTES) -> list[bytes]:
    """The complete lines that start in the gzip member at ``loc`` (plus a spill-over)."""
    blocks = LineBlocks(fd, compressed=True, start=loc, max_line=max_line)
    lines: list[bytes] = []
    for block_loc, block in blocks:
        if block_loc != loc:
            break
        lines.extend(block.split(b"\n")[:-1])
    return lines
