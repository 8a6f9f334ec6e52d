"""The store seam: the small Protocol every backend implements, and helpers for it."""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
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
    "StoreBase",
    "apply_window",
    "as_store_base",
    "feedback_stats",
    "store_dropped",
    "store_flush",
]

T = TypeVar("T")
_S = TypeVar("_S", bound="StoreBase")


@runtime_checkable
class Store(Protocol):
    """Where records live. Stats, analytics and exports are computed over these methods.

    Subclass :class:`StoreBase` to get defaults for the optional methods (``initialize``,
    ``flush``, ``dropped``, ``purge``, ``compute_stats``) and override what your backend
    does better; a plain object with these six methods works too (``as_store_base`` wraps
    it). ``write`` is called from one exporter thread at a time; reads may come from any
    thread.
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


class StoreBase(ABC):
    """A :class:`Store` with a default for every optional method.

    Implement ``write``, ``get_interaction``, ``get_feedback``, ``scan_interactions`` and
    ``scan_feedback``; override the rest when the backend can do better (the JSONL store
    computes stats from per-segment summaries, ZeroDB creates its table in ``initialize``).
    Usable as a context manager (``close`` on exit).
    """

    @abstractmethod
    def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        """Store a batch. Raising means none of it was stored."""

    @abstractmethod
    def get_interaction(self, interaction_id: str) -> Interaction | None:
        """The interaction with this id, or ``None``."""

    @abstractmethod
    def get_feedback(self, feedback_id: str) -> Feedback | None:
        """The feedback with this id, or ``None``."""

    @abstractmethod
    def scan_interactions(self, flt: InteractionFilter | None = None) -> Iterator[Interaction]:
        """Interactions matching ``flt``, oldest written first, ``offset``/``limit`` applied."""

    @abstractmethod
    def scan_feedback(self, flt: FeedbackFilter | None = None) -> Iterator[Feedback]:
        """Feedback matching ``flt``, oldest written first, ``offset``/``limit`` applied."""

    def close(self) -> None:  # noqa: B027  # a do-nothing default, on purpose
        """Release resources (default: nothing to release)."""

    def initialize(self) -> object:
        """Prepare the backend before the first write (default: nothing to prepare).

        Returns:
            Whatever the backend reports (ignored by the logger).
        """
        return None

    def flush(self, timeout: float | None = None) -> bool:
        """Make what was written durable; ``True`` when done (default: writes are durable)."""
        return True

    def dropped(self) -> Mapping[str, int]:
        """Records the store itself lost, by reason (default: none)."""
        return {}

    def purge(self, *, before: datetime | None = None, user_id: str | None = None) -> int:
        """Delete records for a data-protection request; returns how many.

        Raises:
            StoreError: the store cannot delete records (the default).
        """
        raise StoreError(f"store {type(self).__name__} cannot delete records (no purge)")

    def compute_stats(self, start: datetime | None, end: datetime | None) -> FeedbackStats:
        """Feedback statistics of ``[start, end]`` (default: one pass over both scans)."""
        return compute_stats(self, start, end)

    def segment_files(self, kind: str) -> list[str] | None:
        """The analytics engine's fast path: files of newline-delimited schema records
        (plain or gzip) holding every ``kind`` record (``interactions`` or ``feedback``),
        oldest first, which the engine reads in place after :meth:`flush`; ``None`` (the
        default) means the engine reads through the scans instead."""
        return None

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _ProtocolStore(StoreBase):
    """A plain :class:`Store` object seen through :class:`StoreBase`: its own optional
    methods where it has them, the defaults where it does not (looked up once, here)."""

    def __init__(self, store: Store) -> None:
        self.inner = store
        self.write = store.write  # type: ignore[method-assign]
        self.get_interaction = store.get_interaction  # type: ignore[method-assign]
        self.get_feedback = store.get_feedback  # type: ignore[method-assign]
        self.scan_interactions = store.scan_interactions  # type: ignore[method-assign]
        self.scan_feedback = store.scan_feedback  # type: ignore[method-assign]
        self.close = store.close  # type: ignore[method-assign]
        for name in (
            "initialize",
            "flush",
            "dropped",
            "purge",
            "compute_stats",
            "segment_files",
        ):
            own = getattr(store, name, None)
            if callable(own):
                setattr(self, name, own)

    def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        self.inner.write(interactions, feedback)  # replaced per instance above

    def get_interaction(self, interaction_id: str) -> Interaction | None:
        return self.inner.get_interaction(interaction_id)

    def get_feedback(self, feedback_id: str) -> Feedback | None:
        return self.inner.get_feedback(feedback_id)

    def scan_interactions(self, flt: InteractionFilter | None = None) -> Iterator[Interaction]:
        return self.inner.scan_interactions(flt)

    def scan_feedback(self, flt: FeedbackFilter | None = None) -> Iterator[Feedback]:
        return self.inner.scan_feedback(flt)


def as_store_base(store: Store) -> StoreBase:
    """``store`` itself when it subclasses :class:`StoreBase`, else an adapter that gives
    a plain Store object the optional methods' defaults."""
    return store if isinstance(store, StoreBase) else _ProtocolStore(store)


def store_flush(store: Store, timeout: float | None = None) -> bool:
    """Flush any store (a store without ``flush`` is always flushed)."""
    return bool(as_store_base(store).flush(timeout))


def store_dropped(store: Store) -> Mapping[str, int]:
    """Any store's own drop counts by reason."""
    return dict(as_store_base(store).dropped())


def feedback_stats(
    store: Store, start: datetime | None = None, end: datetime | None = None
) -> FeedbackStats:
    """Feedback statistics of any store, through its own faster path when it has one.

    ``end`` defaults to now; naive times are local time.
    """
    return as_store_base(store).compute_stats(as_utc(start), as_utc(end) or utc_now())
