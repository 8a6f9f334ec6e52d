"""The JSONL store at 100,000 records: open, lookups, stats and filtered queries, bounded memory."""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

from rlhf_otel.analytics import store_stats
from rlhf_otel.records import (
    FeedbackFilter,
    feedback_from_dict,
    feedback_to_dict,
    interaction_from_dict,
    interaction_to_dict,
)
from rlhf_otel.stores.jsonl import JsonlStore, SyntheticStore, write_synthetic_store
from tests.stores.jsonl_support import raw_lines

N_INTERACTIONS = 60_000
N_FEEDBACK = 40_000


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SyntheticStore]:
    data = tmp_path_factory.mktemp("scale") / "data"
    syn = write_synthetic_store(
        data, interactions=N_INTERACTIONS, feedback=N_FEEDBACK, segment_mb=8, seed=3
    )
    return data, syn


def test_synthetic_lines_are_schema_lines(synthetic: tuple[Path, SyntheticStore]) -> None:
    """The generator writes exactly what the schema functions produce."""
    data, _ = synthetic
    for lines in raw_lines(data).values():
        for line in lines[:50]:
            d = json.loads(line)
            if d["kind"] == "interaction":
                assert interaction_to_dict(interaction_from_dict(d)) == d
            else:
                assert feedback_to_dict(feedback_from_dict(d)) == d


def _io() -> tuple[int, int]:
    """Bytes this process has read through read()/pread() so far, and how many such calls."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["rchar"]), int(fields["syscr"])


def _counted_by_type(data: Path) -> dict[str, int]:
    """Feedback that counts per type, straight from the documented rule: text counts whole, other
    types once per (targets, type, user) (the generator writes no repeated ids or supersedes)."""
    text: Counter[str] = Counter()
    votes: set[tuple[tuple[str, ...], str, str]] = set()
    for name, lines in raw_lines(data).items():
        if name.startswith("feedback"):
            for line in lines:
                if not line.strip():
                    continue
                d = json.loads(line)
                if d["type"] == "text":
                    text["text"] += 1
                else:
                    votes.add((tuple(sorted(d["target_ids"])), d["type"], d["user_id"]))
    counted = Counter(t for _, t, _ in votes)
    counted.update(text)
    return dict(counted)


def test_hundred_thousand_records(synthetic: tuple[Path, SyntheticStore]) -> None:
    """Open reads no segment, a lookup costs a few reads (no scan) in bounded memory, stats
    are exact (counted in bytes and system calls, not timed)."""
    data, syn = synthetic
    before = _io()
    store = JsonlStore(data)
    opened = _io()
    assert opened[0] - before[0] < 64 * 1024  # the segments hold tens of MB
    first = store.get_interaction(syn.interaction_ids[-1])  # builds this segment's index
    assert first is not None
    assert first.id == syn.interaction_ids[-1]
    assert store.get_feedback(syn.feedback_ids[-1]) is not None
    before = _io()
    found = [store.get_interaction(rid) for rid in syn.interaction_ids]
    found_fb = [store.get_feedback(rid) for rid in syn.feedback_ids]
    after = _io()
    assert [it.id for it in found if it] == syn.interaction_ids
    assert [fb.id for fb in found_fb if fb] == syn.feedback_ids
    # every segment's index is built once above; then a lookup is a few reads, not a scan
    lookups = len(found) + len(found_fb)
    assert (after[1] - before[1]) / lookups < 4
    tracemalloc.start()
    for rid in syn.interaction_ids[:20]:
        store.get_interaction(rid)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000  # a lookup never loads the history into memory

    stats = store_stats(store, None, syn.last_timestamp)
    counted = _counted_by_type(data)
    assert (stats.total_interactions, stats.total_feedback) == (
        N_INTERACTIONS,
        sum(counted.values()),
    )
    assert dict(stats.by_type) == counted
    assert store_stats(store, None, syn.last_timestamp) == stats

    expected = Counter()
    for name, lines in raw_lines(data).items():
        if name.startswith("feedback"):
            for line in lines[:-1]:
                d = json.loads(line)
                expected[d["user_id"]] += 1
    got = list(store.scan_feedback(FeedbackFilter(user_id="user-7")))
    assert len(got) == expected["user-7"]
    assert {fb.user_id for fb in got} == {"user-7"}
    store.close()


def test_hundred_thousand_records_compressed(synthetic: tuple[Path, SyntheticStore]) -> None:
    """After compression every record is still found and the stats are unchanged."""
    data, syn = synthetic
    with JsonlStore(data) as plain:
        before = store_stats(plain, None, syn.last_timestamp)
    store = JsonlStore(data, compress=True)
    deadline = time.monotonic() + 120
    while any(n.endswith(".jsonl") for n in os.listdir(data)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for rid in syn.interaction_ids[::7]:
        assert store.get_interaction(rid) is not None
    for rid in syn.feedback_ids[::7]:
        assert store.get_feedback(rid) is not None
    assert store_stats(store, None, syn.last_timestamp) == before
    store.close()
