"""A JSONL store's segment files, listed without opening the store (nothing is written)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from rlhf_otel.stores.jsonl._fs import MAINTENANCE_LOCK, DataDir

__all__ = ["StoreFiles", "list_store_files"]


@dataclass(frozen=True, slots=True)
class StoreFiles:
    """The segments of a JSONL store at one moment, for engines that read files themselves.

    A writer may seal, compress or delete a segment after the listing; readers skip a file
    that is gone.
    """

    data_dir: str
    interactions: tuple[str, ...]
    feedback: tuple[str, ...]

    def segment_files(self, kind: str) -> list[str]:
        """Paths of this kind's segments (active, plain and gzip), oldest first."""
        if kind == "interactions":
            return list(self.interactions)
        if kind == "feedback":
            return list(self.feedback)
        raise ValueError(f"kind must be 'interactions' or 'feedback'; got {kind!r}")

    def all_files(self) -> list[str]:
        """Every listed segment path."""
        return [*self.interactions, *self.feedback]


def list_store_files(data_dir: str | os.PathLike[str]) -> StoreFiles | None:
    """The store's segment files, or ``None`` when ``data_dir`` holds no JSONL store.

    A directory holds a store when it has one of the store's own files: a segment, an index,
    a writer lock or the maintenance lock (created the first time a store opens it). Nothing
    is created, repaired or locked, unlike opening a :class:`JsonlStore`.

    Raises:
        NotADirectoryError: ``data_dir`` is not a directory.
    """
    path = Path(os.fspath(data_dir)).expanduser()
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a directory")
    directory = DataDir(path)
    try:
        listing = directory.listing()
        lock = directory.stat(MAINTENANCE_LOCK)
    finally:
        directory.close()
    has_lock = lock is not None and stat.S_ISREG(lock.st_mode)
    segments = listing.segments
    found = any(segments.values()) or listing.others or listing.writers or listing.unborn
    if not (found or has_lock):
        return None
    base = str(path)
    return StoreFiles(
        base,
        tuple(os.path.join(base, name) for _, name in segments["interactions"]),
        tuple(os.path.join(base, name) for _, name in segments["feedback"]),
    )
