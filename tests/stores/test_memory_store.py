"""The memory store: bounded, oldest evicted first, re-stored ids replaced, close keeps data."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from rlhf_otel import ConfigurationError, Feedback, FeedbackFilter, FeedbackType, Interaction
from rlhf_otel.records import (
    feedback_from_dict,
    feedback_to_dict,
    interaction_from_dict,
    interaction_to_dict,
)
from rlhf_otel.stores import MemoryStore, Store

T0 = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


def _it(n: int) -> Interaction:
    return Interaction(id=f"i{n}", prompt="p", response="r", timestamp=T0)


def _fb(n: int, target: str) -> Feedback:
    return Feedback(
        id=f"f{n}",
        interaction_id=target,
        type=FeedbackType.BINARY,
        data={"value": "thumbs_up"},
        timestamp=T0,
        target_ids=(target,),
    )


def test_is_a_store() -> None:
    """MemoryStore satisfies the Store protocol."""
    assert isinstance(MemoryStore(), Store)


def test_eviction_is_oldest_first_and_counted() -> None:
    """With max_entries 3 and 5 inserts, i2..i4 remain and 2 evictions are counted."""
    store = MemoryStore(max_entries=3)
    store.write([_it(n) for n in range(5)], [])
    assert [i.id for i in store.scan_interactions()] == ["i2", "i3", "i4"]
    assert store.get_interaction("i0") is None
    assert store.dropped() == {"evicted_interaction": 2}


def test_same_id_twice_keeps_the_newest() -> None:
    """Storing an id again replaces it and it is not lost by a later eviction."""
    store = MemoryStore(max_entries=2)
    store.write([_it(1), _it(2)], [])
    store.write([_it(1)], [])
    store.write([_it(3)], [])
    assert [i.id for i in store.scan_interactions()] == ["i1", "i3"]


def test_feedback_index_and_filters() -> None:
    """Feedback by interaction comes from the index, in write order."""
    store = MemoryStore()
    store.write([], [_fb(1, "a"), _fb(2, "b"), _fb(3, "a")])
    flt = FeedbackFilter(interaction_ids=["a", "b"])
    assert [f.id for f in store.scan_feedback(flt)] == ["f1", "f2", "f3"]
    assert [f.id for f in store.scan_feedback(FeedbackFilter(interaction_ids=["a"], limit=1))] == [
        "f1"
    ]


def test_close_keeps_data() -> None:
    """close() does not wipe the data (the original did)."""
    store = MemoryStore()
    store.write([_it(1)], [])
    store.close()
    assert store.get_interaction("i1") is not None


def test_bad_max_entries() -> None:
    """max_entries must be positive."""
    with pytest.raises(
        ConfigurationError, match="max_entries must be a positive int or None .unbounded.; got 0"
    ):
        MemoryStore(max_entries=0)


def test_schema_round_trip() -> None:
    """Records survive the versioned schema dicts unchanged; timestamps are UTC with Z."""
    it = _it(1)
    d = interaction_to_dict(it)
    assert (d["schema_version"], d["kind"], d["timestamp"]) == (
        1,
        "interaction",
        "2026-01-02T03:04:05.000006Z",
    )
    assert interaction_from_dict(d) == it
    fb = _fb(1, "i1")
    assert feedback_from_dict(feedback_to_dict(fb)) == fb
