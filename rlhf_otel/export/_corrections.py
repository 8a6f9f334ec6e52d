"""Reviewer corrections for the training exports: the latest per interaction counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Corrections"]


class Spill(Protocol):
    """Where texts are parked until the rows are written (``_training._Spill``)."""

    def add(self, text: str) -> int: ...


@dataclass(slots=True)
class Corrections:
    """The latest correction per interaction (a superseded version never counts)."""

    latest: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    superseded: set[str] = field(default_factory=set)

    def add(self, interaction_id: str, ts: str, feedback_id: str, text: str) -> None:
        old = self.latest.get(interaction_id)
        if old is None or (ts, feedback_id) > old[:2]:
            self.latest[interaction_id] = (ts, feedback_id, text)

    def resolve(self, spill: Spill) -> dict[str, int]:
        """Interaction id -> spilled correction text, superseded versions left out."""
        return {
            iid: spill.add(text)
            for iid, (_, fid, text) in self.latest.items()
            if fid not in self.superseded
        }
