"""The store seam: the small Protocol every backend implements, and helpers for it."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol, TypeVar, runtime_checkable

from rlhf_otel._counters import DropCounter
from rlhf_otel.records import Feedback, FeedbackFilter, Interaction, InteractionFilter

__all__ = ["DropCounter", "Store", "apply_window", "store_dropped", "store_flush"]

T = TypeVar("T")


@runtime_checkable
class Store(Protocol):
    """Where records live. Stats, analytics and exports are computed over these methods.

    A store may also offer ``flush(timeout: float | None) -> bool`` (everything written so far
    is durable or counted as dropped), ``dropped() -> Mapping[str, int]`` (records it lost,
    by reason) and ``purge(before=..., user_id=...) -> int``; callers probe for them.
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


def store_flush(store: Store, timeout: float | None = None) -> bool:
    """Call the store's optional ``flush``; a store without one is always flushed."""
    flush = getattr(store, "flush", None)
    if flush is None:
        return True
    return bool(flush(timeout))


def store_dropped(store: Store) -> Mapping[str, int]:
    """The store's optional drop counts by reason, or an empty mapping."""
    dropped = getattr(store, "dropped", None)
    return dict(dropped()) if dropped is not None else {}


