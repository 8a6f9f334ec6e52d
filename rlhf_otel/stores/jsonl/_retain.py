"""Feedback-aware retention: interactions that received feedback outlive the others."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from rlhf_otel.stores.jsonl._format import id_hash
from rlhf_otel.stores.jsonl._index import line_keys

if TYPE_CHECKING:
    from rlhf_otel.stores.jsonl._maint import Maintenance
    from rlhf_otel.stores.jsonl._read import SegmentReader

__all__ = ["RATED_MARKER", "drop_unrated", "rated_hashes"]

RATED_MARKER: Final = ".retention-rated"
"""Stems of interaction segments already cut down to rated interactions, one per line."""


def rated_hashes(reader: SegmentReader) -> set[int]:
    """Id hashes of every interaction that some stored feedback names as a target.

    Read from the feedback segments' indexes (built if missing), not from their lines. A
    hash collision can only keep an unrated interaction longer, never drop a rated one.
    """
    out: set[int] = set()
    for seg in reader.segments("feedback"):
        with reader.opened(seg) as got:
            if got is None:
                continue
            fd, name = got
            index = reader.index_of(seg[0].stem, name, fd)
            if index is not None:
                out.update(index.target_hashes())
    return out


def drop_unrated(
    maint: Maintenance, graying: Sequence[tuple[str, str]], reader: SegmentReader
) -> tuple[int, list[str]]:
    """Rewrite each ``(stem, file name)`` without unrated interactions; (removed, stems).

    A rewritten segment keeps its modification time, so it still ages toward the rated
    period. Segments cut down before (listed in :data:`RATED_MARKER`) hold only rated
    interactions and are not read again.
    """
    ddir = maint._dir
    done = _load(maint)
    todo = [(stem, name) for stem, name in graying if stem not in done]
    removed = 0
    rewritten: list[str] = []
    if todo:
        hashes = rated_hashes(reader)

        def unrated(line: bytes) -> bool:
            keys = line_keys(line)
            return keys is not None and id_hash(keys[0]) not in hashes

        for stem, name in todo:
            st = ddir.stat(name)
            if st is None:
                continue
            n = maint.rewrite(stem, name, unrated)
            if n:
                removed += n
                rewritten.append(stem)
                if ddir.stat(name) is not None:
                    os.utime(
                        name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=ddir.fd,
                        follow_symlinks=False,
                    )  # fmt: skip
            done.add(stem)
    live = {stem for stem, _ in graying}
    keep = sorted(done & live)
    if keep != sorted(_load(maint)):
        data = "".join(f"{stem}\n" for stem in keep).encode()
        ddir.write_file(RATED_MARKER, data, owner=maint._owner, durable=maint._durable)
    return removed, rewritten


def _load(maint: Maintenance) -> set[str]:
    try:
        fd = maint._dir.open_read(RATED_MARKER)
    except FileNotFoundError:
        return set()
    try:
        raw = os.pread(fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)
    return {line for line in raw.decode("utf-8", "replace").splitlines() if line}
