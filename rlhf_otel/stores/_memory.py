"""The in-memory store: bounded, oldest evicted first, evictions counted."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

from rlhf_otel._errors import ConfigurationError
from rlhf_otel.records import Feedback, FeedbackFilter, Interaction, InteractionFilter
from rlhf_otel.stores._protocol import DropCounter, apply_window

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps records in process memory; for tests, demos and short-lived jobs.

    Args:
        max_entries: the most interactions kept, and separately the most feedback kept
            (default 10,000 each, as in the guide). The oldest is evicted first and counted
            in ``dropped()`` as ``"evicted_interaction"`` / ``"evicted_feedback"``; feedback
            is never evicted to make room for interactions. ``None`` keeps everything.

    ``close()`` keeps the data readable; ``clear()`` wipes it.
    """

    def __init__(self, max_entries: int | None = 10_000) -> None:
        if max_entries is not None and (
            isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1
        ):
            raise ConfigurationError(
                f"max_entries must be a positive int or None (unbounded); got {max_entries!r}"
            )
        self._max = max_entries
        self._lock = threading.RLock()
        self._interactions: dict[str, Interaction] = {}
        self._feedback: dict[str, Feedback] = {}
        self._by_target: dict[str, list[str]] = {}
        self._drops = DropCounter()
        self._problems = DropCounter()

    def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        """Store a batch; an interaction with an id already stored replaces it, a feedback
        id already stored keeps its first copy (the later one is counted in
        ``read_problems()`` as ``duplicate_feedback_id``)."""
        with self._lock:
            for it in interactions:
                self._interactions.pop(it.id, None)
                self._interactions[it.id] = it
            for fb in feedback:
                if fb.id in self._feedback:
                    self._problems.add("duplicate_feedback_id")
                    continue
                self._feedback[fb.id] = fb
                targets = fb.target_ids
                if len(targets) == 1 and targets[0] == fb.interaction_id:  # the common case
                    self._by_target.setdefault(fb.interaction_id, []).append(fb.id)
                    continue
                for target in dict.fromkeys((fb.interaction_id, *targets)):
                    self._by_target.setdefault(target, []).append(fb.id)
            if self._max is not None:
                self._evict()

    def _unindex(self, fb: Feedback) -> None:
        for target in dict.fromkeys((fb.interaction_id, *fb.target_ids)):
            ids = self._by_target.get(target)
            if ids is not None:
                ids.remove(fb.id)
                if not ids:
                    del self._by_target[target]

    def _evict(self) -> None:
        assert self._max is not None
        over = len(self._interactions) - self._max
        for key in list(self._interactions)[: max(over, 0)]:
            del self._interactions[key]
        self._drops.add("evicted_interaction", max(over, 0))
        over = len(self._feedback) - self._max
        for key in list(self._feedback)[: max(over, 0)]:
            self._unindex(self._feedback.pop(key))
        self._drops.add("evicted_feedback", max(over, 0))

    def get_interaction(self, interaction_id: str) -> Interaction | None:
        """The interaction with this id, or ``None``."""
        return self._interactions.get(interaction_id)

    def get_feedback(self, feedback_id: str) -> Feedback | None:
        """The feedback with this id, or ``None``."""
        return self._feedback.get(feedback_id)

    def scan_interactions(self, flt: InteractionFilter | None = None) -> Iterator[Interaction]:
        """Interactions matching ``flt`` in the order they were written."""
        with self._lock:
            if flt is not None and flt.ids is not None:
                items = [self._interactions[i] for i in flt.ids if i in self._interactions]
            else:
                items = list(self._interactions.values())
        if flt is None:
            return iter(items)
        return apply_window((it for it in items if flt.matches(it)), flt.offset, flt.limit)

    def scan_feedback(self, flt: FeedbackFilter | None = None) -> Iterator[Feedback]:
        """Feedback matching ``flt`` in the order it was written."""
        with self._lock:
            if flt is not None and flt.interaction_ids is not None:
                ids = dict.fromkeys(
                    fid for t in flt.interaction_ids for fid in self._by_target.get(t, ())
                )
                if len(flt.interaction_ids) > 1:
                    order = {fid: n for n, fid in enumerate(self._feedback)}
                    ids = dict.fromkeys(sorted(ids, key=order.__getitem__))
                items = [self._feedback[f] for f in ids]
            else:
                items = list(self._feedback.values())
        if flt is None:
            return iter(items)
        return apply_window((fb for fb in items if flt.matches(fb)), flt.offset, flt.limit)

    def purge(self, before: datetime | None = None, user_id: str | None = None) -> int:
        """Delete records earlier than ``before`` and/or of ``user_id``; returns how many."""

        def doomed(ts: datetime, user: str | None) -> bool:
            return (before is None or ts < before) and (user_id is None or user == user_id)

        with self._lock:
            gone_i = [k for k, it in self._interactions.items() if doomed(it.timestamp, it.user_id)]
            gone_f = [k for k, fb in self._feedback.items() if doomed(fb.timestamp, fb.user_id)]
            for key in gone_i:
                del self._interactions[key]
            for key in gone_f:
                self._unindex(self._feedback.pop(key))
        return len(gone_i) + len(gone_f)

    def dropped(self) -> Mapping[str, int]:
        """Records evicted so far, by reason."""
        return self._drops.snapshot()

    def read_problems(self) -> Mapping[str, int]:
        """Records not counted, by reason: ``duplicate_feedback_id`` (a feedback id written
        again; the first copy counts)."""
        return self._problems.snapshot()

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._interactions.clear()
            self._feedback.clear()
            self._by_target.clear()

    def close(self) -> None:
        """Nothing to release; the data stays readable."""

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._interactions) + len(self._feedback)
