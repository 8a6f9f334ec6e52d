"""Byte-level helpers for segment rewriting: whole-line pieces and the last newline."""

from __future__ import annotations

import os
from collections.abc import Iterator

from rlhf_otel.stores.jsonl._format import GZ_MEMBER_BYTES

__all__ = ["gz_pieces", "last_newline"]


def gz_pieces(loc: int, block: bytes) -> Iterator[tuple[int, bytes]]:
    """Split a block of whole lines into pieces of about ``GZ_MEMBER_BYTES``."""
    pos = 0
    n = len(block)
    while pos < n:
        cut = block.rfind(b"\n", pos, pos + GZ_MEMBER_BYTES) + 1
        if cut <= pos:
            cut = block.index(b"\n", pos) + 1
        yield loc + pos, block[pos:cut]
        pos = cut


def last_newline(fd: int, size: int) -> int:
    """Offset of the last newline in the first ``size`` bytes of ``fd``, or -1."""
    pos = size
    while pos > 0:
        start = max(0, pos - 65536)
        chunk = os.pread(fd, pos - start, start)
        i = chunk.rfind(b"\n")
        if i >= 0:
            return start + i
        pos = start
    return -1
