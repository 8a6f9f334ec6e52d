"""Counts of records lost, by reason: shared by the pipeline, the stores and the logger."""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["DropCounter"]


class DropCounter:
    """Thread-safe counts of records lost, by reason (never silent)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, reason: str, n: int = 1) -> None:
        """Count ``n`` records lost for ``reason``."""
        if n:
            with self._lock:
                self._counts[reason] += n

    def snapshot(self) -> dict[str, int]:
        """The counts so far, by reason."""
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        """All records counted so far."""
        with self._lock:
            return sum(self._counts.values())
