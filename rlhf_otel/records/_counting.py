"""Which stored feedback counts: the one rule every reader applies.

1. **A feedback id counts once**: the first stored copy wins; later copies (a retried
   write, a resend after a restart) are duplicates, counted as such, never as feedback.
2. **A superseded version does not count**: a record whose id another record (with a
   different id) names in ``supersedes``.
3. **One current vote per (interaction, type, user)**: among the rest, for binary, rating,
   multi-dimensional and comparative feedback with a ``user_id``, only the latest (by
   timestamp, then write order) of each (interactions it is about, type, user) counts,
   whatever client key or id the older ones carry. Text feedback adds up (each comment is
   its own feedback) and feedback without a user is each its own vote.

Statistics over a time range apply rules 2 and 3 among the records in that range (votes as
they stood at its end); rule 1 looks at the whole store. The analytics engine's SQL
(``rlhf_otel.analytics``: the ``feedback`` view) is the same rule; tests hold the two equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, TypeVar

from rlhf_otel.records._model import Feedback

__all__ = ["COUNTED_ALONE", "Counted", "count_feedback", "vote_key"]

COUNTED_ALONE: Final = frozenset({"text"})
"""Feedback types whose records add up instead of replacing each other."""

VoteKey = tuple[tuple[str, ...], str, str]
F = TypeVar("F")


def vote_key(
    ftype: str, user_id: str | None, interaction_id: str, target_ids: Iterable[str]
) -> VoteKey | None:
    """The (interactions, type, user) a vote is about, or ``None`` when it counts alone."""
    if ftype in COUNTED_ALONE or user_id is None:
        return None
    return (tuple(sorted({interaction_id, *target_ids})), ftype, user_id)


@dataclass(frozen=True, slots=True)
class Counted:
    """The result of :func:`count_feedback`: what counts (in stored order) and what not."""

    feedback: list[Feedback]
    duplicates: int
    superseded: int
    replaced_votes: int


def _key(fb: Feedback) -> VoteKey | None:
    return vote_key(fb.type.value, fb.user_id, fb.interaction_id, fb.target_ids)


def count_feedback(
    stored: Iterable[Feedback],
    in_range: Callable[[datetime], bool] | None = None,
) -> Counted:
    """Apply the rule to feedback in stored order (oldest written first).

    ``in_range`` selects by timestamp after duplicates are removed; the versions rules
    apply among the selected records.
    """
    first: dict[str, Feedback] = {}
    duplicates = 0
    for fb in stored:
        if fb.id in first:
            duplicates += 1
            continue
        first[fb.id] = fb
    chosen = [fb for fb in first.values() if in_range is None or in_range(fb.timestamp)]
    named = {fb.supersedes for fb in chosen if fb.supersedes and fb.supersedes != fb.id}
    live = [(n, fb) for n, fb in enumerate(chosen) if fb.id not in named]
    latest: dict[VoteKey, tuple[datetime, int]] = {}
    for n, fb in live:
        key = _key(fb)
        if key is not None:
            rank = (fb.timestamp, n)
            if key not in latest or rank > latest[key]:
                latest[key] = rank
    kept = [fb for n, fb in live if (key := _key(fb)) is None or latest[key] == (fb.timestamp, n)]
    return Counted(kept, duplicates, len(chosen) - len(live), len(live) - len(kept))
