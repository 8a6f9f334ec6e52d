"""The store seam: the small Protocol every backend implements, and helpers for it."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable

from rlhf_otel._counters import DropCounter
from rlhf_otel._errors import StoreError
from rlhf_otel.records import (
    Feedback,
    FeedbackFilter,
    FeedbackStats,
    Interaction,
    InteractionFilter,
    as_utc,
    compute_stats,
    utc_now,
)

__all__ = [
    "DropCounter",
    "Store",
    "apply_window",
    "feedback_stats",
    "store_dropped",
    "store_flush",
    "store_initialize",
    "store_purge",
    "store_segment_files",
]

T = TypeVar("T")


@runtime_checkable
class Store(Protocol):
    """Where records live. Stats, analytics and exports are computed over these methods.

    Six methods make a store; a plain object with them works wherever ours do. A store may
    also have any of these optional methods, which the readers use when present (the
    ``store_*`` helpers and :func:`feedback_stats` supply the default when absent):

    - ``initialize()``: prepare the backend before the first write (default: nothing).
    - ``flush(timeout=None) -> bool``: make what was written durable (default: ``True``).
    - ``dropped() -> Mapping[str, int]``: records the store itself lost, by reason
      (default: none).
    - ``purge(*, before=None, user_id=None) -> int``: delete records for a data-protection
      request (default: :class:`~rlhf_otel.StoreError`, the store cannot delete).
    - ``compute_stats(start, end) -> FeedbackStats``: statistics of ``[start, end]``
      (default: one pass over both scans).
    - ``segment_files(kind) -> list[str] | None``: the analytics engine's fast path, files
      of newline-delimited schema records (plain or gzip) holding every ``kind`` record
      (``interactions`` or ``feedback``), oldest first, which the engine reads in place
      after a flush (default: ``None``, the engine reads through the scans).

    ``write`` is called from one exporter thread at a time; reads may come from any thread.
    """

    def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        """Store a batch. Raising means none of it was stored."""
        ...

    def get_interaction(self, interaction_id: str) -> Interaction | None:
        """The interaction with this id, or ``None``."""
        ...

    def get_feedback(self, feedback_id: str) -> Feedback | None:
        """The feedback with this id, or ``None``."""
        ...

    def scan_interactions(self, flt: InteractionFilter | None = None) -> Iterator[Interaction]:
        """Interactions matching ``flt``, oldest written first, ``offset``/``limit`` applied."""
        ...

    def scan_feedback(self, flt: FeedbackFilter | None = None) -> Iterator[Feedback]:
        """Feedback matching ``flt``, oldest written first, ``offset``/``limit`` applied."""
        ...

    def close(self) -> None:
        """Release resources; data already written stays readable by a new instance."""
        ...


def apply_window(items: Iterable[T], offset: int = 0, limit: int | None = None) -> Iterator[T]:
    """Skip ``offset`` items then yield at most ``limit`` (``None``: no limit; 0: nothing)."""
    stop = None if limit is None else offset + limit
    return itertools.islice(items, offset, stop)


def store_initialize(store: Store) -> object:
    """Prepare any store before its first write (a store without ``initialize`` is ready)."""
    own = getattr(store, "initialize", None)
    return own() if callable(own) else None


def store_flush(store: Store, timeout: float | None = None) -> bool:
    """Flush any store (a store without ``flush`` is always flushed)."""
    own = getattr(store, "flush", None)
    return bool(own(timeout)) if callable(own) else True


def store_dropped(store: Store) -> Mapping[str, int]:
    """Any store's own drop counts by reason."""
    own = getattr(store, "dropped", None)
    return dict(own()) if callable(own) else {}


def store_purge(store: Store, *, before: datetime | None = None, user_id: str | None = None) -> int:
    """Delete records of any store for a data-protection request; returns how many.

    Raises:
        StoreError: the store cannot delete records (it has no ``purge``).
    """
    own = getattr(store, "purge", None)
    if not callable(own):
        raise StoreError(f"store {type(store).__name__} cannot delete records (no purge)")
    return int(own(before=before, user_id=user_id))


def store_segment_files(store: Store, kind: str) -> list[str] | None:
    """The files holding every ``kind`` record of any store, or ``None`` when the store has
    none to read in place (see :class:`Store`)."""
    own = getattr(store, "segment_files", None)
    if not callable(own):
        return None
    files: list[str] | None = own(kind)
    return files


def feedback_stats(
    store: Store, start: datetime | None = None, end: datetime | None = None
) -> FeedbackStats:
    """Feedback statistics of any store, through its own faster path when it has one.

    ``end`` defaults to now; naive times are local time.
    """
    start, end = as_utc(start), as_utc(end) or utc_now()
    own = getattr(store, "compute_stats", None)
    if not callable(own):
        return compute_stats(store, start, end)
    stats: FeedbackStats = own(start, end)
    return stats
