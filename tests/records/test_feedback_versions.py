"""Feedback versions in statistics: a superseded record does not count, a repeated id once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from rlhf_otel import Feedback, FeedbackType
from rlhf_otel.analytics import store_stats
from rlhf_otel.records import compute_stats
from rlhf_otel.stores import JsonlStore, MemoryStore
from tests.stores.jsonl_support import T0, feedback, interaction


def _vote(
    fid: str, target: str, value: str, second: int, supersedes: str | None = None
) -> Feedback:
    return Feedback(
        id=fid,
        interaction_id=target,
        type=FeedbackType.BINARY,
        data={"value": value},
        timestamp=T0 + timedelta(seconds=second),
        user_id="u",
        target_ids=(target,),
        supersedes=supersedes,
    )


def test_chain_of_changed_votes_counts_the_last() -> None:
    """Up, then down (supersedes up), then up (supersedes down): one thumbs up counts."""
    store = MemoryStore()
    store.write(
        [interaction(1), interaction(2)],
        [
            _vote("a", "i1", "thumbs_up", 10),
            _vote("b", "i1", "thumbs_down", 11, supersedes="a"),
            _vote("c", "i1", "thumbs_up", 12, supersedes="b"),
            _vote("d", "i2", "thumbs_down", 13),
        ],
    )
    stats = compute_stats(store, None, T0 + timedelta(days=1))
    assert (stats.total_feedback, stats.binary.thumbs_up, stats.binary.thumbs_down) == (2, 1, 1)  # type: ignore[union-attr]
    assert (stats.interactions_with_feedback, stats.by_type) == (2, {"binary": 2})


def test_repeated_id_counts_once() -> None:
    """The same record stored twice (a retried write) counts once."""
    store = MemoryStore()
    vote = _vote("a", "i1", "thumbs_up", 10)
    store.write([interaction(1)], [vote])
    store.write([], [vote])
    stats = compute_stats(store, None, T0 + timedelta(days=1))
    assert (stats.total_feedback, stats.binary.thumbs_up) == (1, 1)  # type: ignore[union-attr]


def test_stats_as_they_stood_at_the_end_of_the_range() -> None:
    """A range ending before the change counts the earlier version."""
    store = MemoryStore()
    store.write(
        [interaction(1)],
        [_vote("a", "i1", "thumbs_up", 10), _vote("b", "i1", "thumbs_down", 20, supersedes="a")],
    )
    stats = compute_stats(store, None, T0 + timedelta(seconds=15))
    assert (stats.binary.thumbs_up, stats.binary.thumbs_down) == (1, 0)  # type: ignore[union-attr]


class _Plain:
    """A store exposing only the Store protocol (no pushed-down statistics)."""

    def __init__(self, inner: JsonlStore) -> None:
        self.scan_interactions = inner.scan_interactions
        self.scan_feedback = inner.scan_feedback
        self.get_interaction = inner.get_interaction
        self.get_feedback = inner.get_feedback
        self.write = inner.write
        self.close = inner.close


def _versioned(n: int) -> tuple[list[Feedback], list[Feedback]]:
    """Feedback of every type; every 7th record is replaced later by a new version, some
    of those again (chains across segments), one replacement names another target."""
    first = [feedback(k, f"i{k % 97}") for k in range(n)]
    later: list[Feedback] = []
    for k in range(0, n, 7):
        old = first[k]
        new = replace(
            old, id=f"v{k}", supersedes=old.id, timestamp=old.timestamp + timedelta(seconds=n)
        )
        later.append(new)
        if k % 21 == 0:
            later.append(
                replace(
                    new,
                    id=f"w{k}",
                    supersedes=new.id,
                    timestamp=new.timestamp + timedelta(seconds=1),
                )
            )
    later.append(
        replace(
            first[3],
            id="moved",
            interaction_id="i500",
            target_ids=("i500",),
            supersedes=first[3].id,
            timestamp=first[3].timestamp + timedelta(seconds=2 * n),
        )
    )
    return first, later


def test_jsonl_fast_path_equals_generic_rule(tmp_path: Path) -> None:
    """The JSONL store's statistics (byte scan, sealed-segment summaries, active segment)
    equal the generic rule over the same records, for several ranges and after reopening."""
    data = tmp_path / "data"
    store = JsonlStore(data, max_file_size_mb=0.02)
    first, later = _versioned(300)
    store.write([interaction(k) for k in range(97)] + [interaction(500)], [])
    for start in range(0, len(first), 40):
        store.write([], first[start : start + 40])
    for start in range(0, len(later), 15):
        store.write([], later[start : start + 15])
    windows = (
        (None, T0 + timedelta(days=1)),
        (T0 + timedelta(seconds=50), T0 + timedelta(seconds=400)),
        (T0 + timedelta(seconds=310), T0 + timedelta(days=1)),
    )
    checked = 0
    for reopen in (False, True, True):
        if reopen:
            store.close()
            store = JsonlStore(data)
        for start, end in windows:
            expected = compute_stats(_Plain(store), start, end)  # type: ignore[arg-type]
            assert store_stats(store, start, end) == expected
            checked += 1
    whole = store_stats(store, None, T0 + timedelta(days=1))
    store.close()
    superseded = {fb.supersedes for fb in later}
    assert whole.total_feedback == len(first) + len(later) - len(superseded)
    assert checked == 9
