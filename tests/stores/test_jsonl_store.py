"""The JSONL store: schema lines, reads over every segment, filters, stats, safety."""

from __future__ import annotations

import gzip
import json
import os
import stat
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from rlhf_otel import ConfigurationError, ValidationError
from rlhf_otel.analytics import store_stats
from rlhf_otel.records import (
    FeedbackFilter,
    FeedbackType,
    InteractionFilter,
    StatsAccumulator,
    feedback_to_dict,
    interaction_to_dict,
)
from rlhf_otel.stores import Store
from rlhf_otel.stores.jsonl import JsonlStore
from tests.stores.jsonl_support import T0, feedback, ids_in_files, interaction, raw_lines


@pytest.fixture
def store(tmp_path: Path) -> JsonlStore:
    s = JsonlStore(tmp_path / "data", max_file_size_mb=0.01)
    yield s
    s.close()


def _fill(store: JsonlStore, n: int, batch: int = 20) -> None:
    for start in range(0, n, batch):
        its = [interaction(k) for k in range(start, min(n, start + batch))]
        store.write(its, [feedback(it_n, f"i{it_n}") for it_n in range(start, start + len(its))])


def _wait_compressed(data: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = os.listdir(data)
        if not any(n.endswith(".jsonl") and ".active." not in n for n in names):
            return
        time.sleep(0.02)
    raise AssertionError(f"segments still uncompressed: {sorted(os.listdir(data))}")


def test_is_a_store(store: JsonlStore) -> None:
    """The store satisfies the Store Protocol."""
    assert isinstance(store, Store)


def test_lines_are_the_schema_dicts(store: JsonlStore, tmp_path: Path) -> None:
    """Each line is exactly the schema dict of its record, one object per line."""
    it, fb = interaction(1), feedback(1, "i1")
    store.write([it], [fb])
    lines = raw_lines(tmp_path / "data")
    inter = [json.loads(x) for n, ls in lines.items() if n.startswith("inter") for x in ls[:-1]]
    feed = [json.loads(x) for n, ls in lines.items() if n.startswith("feed") for x in ls[:-1]]
    assert inter == [interaction_to_dict(it)]
    assert feed == [feedback_to_dict(fb)]


def test_round_trip_of_every_feedback_type(store: JsonlStore) -> None:
    """Records read back equal the records written, for all five feedback types."""
    its = [interaction(n) for n in range(5)]
    fbs = [feedback(n, f"i{n}") for n in range(5)]
    store.write(its, fbs)
    assert [store.get_interaction(f"i{n}") for n in range(5)] == its
    assert [store.get_feedback(f"f{n}") for n in range(5)] == fbs
    assert store.get_interaction("nope") is None
    assert store.get_feedback("i1") is None


def test_reads_see_active_rotated_and_compressed_segments(tmp_path: Path) -> None:
    """Lookups, scans and stats cover every segment, before and after a reopen."""
    data = tmp_path / "data"
    store = JsonlStore(data, max_file_size_mb=0.01, compress=True)
    _fill(store, 300)
    _wait_compressed(data)
    names = os.listdir(data)
    assert sum(n.endswith(".jsonl.gz") for n in names) >= 4
    assert sum(n.endswith(".active.jsonl") for n in names) == 2
    for s in (store, None):
        s = s or JsonlStore(data)
        assert [it.id for it in s.scan_interactions()] == [f"i{n}" for n in range(300)]
        assert [fb.id for fb in s.scan_feedback()] == [f"f{n}" for n in range(300)]
        for n in (0, 1, 150, 299):
            assert s.get_interaction(f"i{n}") == interaction(n)
            assert s.get_feedback(f"f{n}") == feedback(n, f"i{n}")
        stats = store_stats(s, None, T0 + timedelta(days=1))
        assert (stats.total_interactions, stats.total_feedback) == (300, 300)
        s.close()
    assert not any(n.endswith(".active.jsonl") for n in os.listdir(data))


def test_filters(store: JsonlStore) -> None:
    """Filtered scans return what the filter's matches() says, oldest first, windowed."""
    _fill(store, 100)
    by_user = list(store.scan_interactions(InteractionFilter(user_id="user-1")))
    assert [it.id for it in by_user] == [f"i{n}" for n in range(100) if n % 3 == 1]
    window = InteractionFilter(
        start_time=T0 + timedelta(seconds=10),
        end_time=T0 + timedelta(seconds=19),
        limit=3,
        offset=2,
    )
    assert [it.id for it in store.scan_interactions(window)] == ["i12", "i13", "i14"]
    assert list(store.scan_interactions(InteractionFilter(limit=0))) == []
    ids = InteractionFilter(ids=["i7", "i3", "missing"])
    assert [it.id for it in store.scan_interactions(ids)] == ["i3", "i7"]
    ratings = FeedbackFilter(min_rating=4)
    assert [fb.id for fb in store.scan_feedback(ratings)] == [
        f"f{n}" for n in range(100) if n % 5 == 1 and n % 5 + 1 >= 4
    ]
    types = FeedbackFilter(types=[FeedbackType.TEXT], session_id="s-2")
    assert [fb.id for fb in store.scan_feedback(types)] == [
        f"f{n}" for n in range(100) if n % 5 == 2
    ]


def test_feedback_for_interaction_uses_targets(store: JsonlStore) -> None:
    """Feedback on an interaction is found through its id and every comparative target."""
    _fill(store, 60)
    assert [fb.id for fb in store.scan_feedback(FeedbackFilter(interaction_ids=["i7"]))] == ["f7"]
    found = store.scan_feedback(FeedbackFilter(interaction_ids=["i4-other", "i9", "i50"]))
    assert [fb.id for fb in found] == ["f4", "f9", "f50"]


def test_stats_equal_record_by_record(tmp_path: Path) -> None:
    """The store's statistics (the engine's) equal StatsAccumulator fed record by record,
    across rotated segments and reopens."""
    data = tmp_path / "data"
    store = JsonlStore(data, max_file_size_mb=0.02)
    _fill(store, 400)
    store.write([], [feedback(1000, "i3", user="x")])
    windows = (
        (None, T0 + timedelta(days=1)),
        (T0 + timedelta(seconds=37), T0 + timedelta(seconds=301)),
        (T0 + timedelta(seconds=390), T0 + timedelta(days=1)),
    )
    for reopen in (False, True, True):
        if reopen:
            store.close()
            store = JsonlStore(data)
        for start, end in windows:
            acc = StatsAccumulator()
            for it in store.scan_interactions(InteractionFilter(start_time=start, end_time=end)):
                acc.add_interaction(it)
            for fb in store.scan_feedback(FeedbackFilter(start_time=start, end_time=end)):
                acc.add_feedback(fb)
            expected = acc.result(start, end)
            assert store_stats(store, start, end) == expected
    store.close()


def test_latest_version_wins_on_lookup(store: JsonlStore) -> None:
    """Writing an id again makes lookups return the newer record."""
    store.write([interaction(1)], [])
    newer = interaction(1, user="someone")
    store.write([newer], [])
    assert store.get_interaction("i1") == newer


def test_private_modes(tmp_path: Path) -> None:
    """The directory is created 0700 and every file 0600."""
    data = tmp_path / "a" / "data"
    with JsonlStore(data, max_file_size_mb=0.01, compress=True) as store:
        _fill(store, 100)
        _wait_compressed(data)
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        modes = {stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()}
        assert modes == {0o600}


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    """A symlink planted in data_dir is neither read nor written through."""
    data = tmp_path / "data"
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(json.dumps(interaction_to_dict(interaction(9))).encode() + b"\n")
    data.mkdir(mode=0o700)
    (data / "interactions-20250101T000000000000Z-0badf00d-000001.jsonl").symlink_to(outside)
    with JsonlStore(data) as store:
        assert store.get_interaction("i9") is None
        assert list(store.scan_interactions()) == []
        store.write([interaction(1)], [])
        assert store.get_interaction("i1") == interaction(1)
    assert outside.read_bytes().count(b"\n") == 1


def test_ids_never_become_paths(store: JsonlStore, tmp_path: Path) -> None:
    """Ids that look like paths are data only: no file is created from them."""
    hostile = interaction(1)
    object.__setattr__(hostile, "id", "../../etc/passwd")
    store.write([hostile], [])
    assert store.get_interaction("../../etc/passwd") == hostile
    assert all(p.parent == tmp_path / "data" for p in (tmp_path / "data").rglob("*"))
    assert not (tmp_path / "etc").exists()


def test_purge_by_user_and_by_date(tmp_path: Path) -> None:
    """purge() removes exactly the matching records from every segment, compressed too."""
    data = tmp_path / "data"
    store = JsonlStore(data, max_file_size_mb=0.01, compress=True)
    _fill(store, 150)
    _wait_compressed(data)
    assert store.purge(user_id="user-1") == 100
    assert all(it.user_id != "user-1" for it in store.scan_interactions())
    assert len(list(store.scan_interactions())) == 100
    assert store.get_interaction("i1") is None
    assert store.get_interaction("i2") == interaction(2)
    cutoff = T0 + timedelta(seconds=100)
    removed = store.purge(before=cutoff)
    assert removed == sum(1 for n in range(100) if n % 3 != 1) * 2
    assert [it.id for it in store.scan_interactions()] == [
        f"i{n}" for n in range(100, 150) if n % 3 != 1
    ]
    store.close()
    assert sorted(ids_in_files(data)) == sorted(
        [f"i{n}" for n in range(100, 150) if n % 3 != 1]
        + [f"f{n}" for n in range(100, 150) if n % 3 != 1]
    )
    with pytest.raises(ValidationError):
        JsonlStore(data).purge()


def test_retention_by_bytes_deletes_oldest_sealed(tmp_path: Path) -> None:
    """A byte cap deletes the oldest sealed segments first and never the active ones."""
    data = tmp_path / "data"
    store = JsonlStore(data, max_file_size_mb=0.01, retention_max_bytes=30_000)
    _fill(store, 300)
    store.apply_retention()
    ids = [it.id for it in store.scan_interactions()]
    assert ids == [f"i{n}" for n in range(300 - len(ids), 300)]
    assert 0 < len(ids) < 300
    sizes = sum(p.stat().st_size for p in data.iterdir() if not p.name.startswith("."))
    assert sizes <= 30_000
    assert store.health().retention_deleted_segments > 0
    store.close()


def test_retention_by_age(tmp_path: Path) -> None:
    """An age cap deletes sealed segments last written before it."""
    data = tmp_path / "data"
    store = JsonlStore(data, max_file_size_mb=0.01, retention_max_age=timedelta(hours=1))
    _fill(store, 100)
    old = time.time() - 7200
    sealed = sorted(
        p for p in data.iterdir() if p.name.endswith(".jsonl") and ".active." not in p.name
    )
    os.utime(sealed[0], (old, old))
    store.apply_retention()
    assert not sealed[0].exists()
    assert all(p.exists() for p in sealed[1:])
    assert store.health().retention_deleted_segments == 1
    store.close()


def test_config_errors_say_what_is_allowed(tmp_path: Path) -> None:
    """Bad settings raise ConfigurationError naming the allowed values."""
    with pytest.raises(ConfigurationError, match="'interval', 'batch', 'none'"):
        JsonlStore(tmp_path, fsync="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_file_size_mb"):
        JsonlStore(tmp_path, max_file_size_mb=0)
    with pytest.raises(ConfigurationError, match="retention_max_age"):
        JsonlStore(tmp_path, retention_max_age=5)  # type: ignore[arg-type]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigurationError, match="not a directory"):
        JsonlStore(tmp_path / "file")


def test_write_after_close_is_counted(tmp_path: Path) -> None:
    """A batch written after close() is counted as dropped, not raised."""
    store = JsonlStore(tmp_path)
    store.close()
    store.write([interaction(1)], [feedback(1, "i1")])
    assert store.dropped() == {"store_closed": 2}


def test_fsync_policies_write_the_same_data(tmp_path: Path) -> None:
    """Every fsync policy stores the same records and flush() reports success."""
    for policy in ("batch", "interval", "none"):
        with JsonlStore(tmp_path / policy, fsync=policy) as store:  # type: ignore[arg-type]
            _fill(store, 30)
            assert store.flush() is True
        with JsonlStore(tmp_path / policy) as store:
            assert len(list(store.scan_feedback())) == 30


def test_gzip_segments_are_standard_gzip(tmp_path: Path) -> None:
    """Compressed segments open with the gzip module and hold the same lines."""
    data = tmp_path / "data"
    with JsonlStore(data, max_file_size_mb=0.01, compress=True) as store:
        _fill(store, 100)
        _wait_compressed(data)
    gz = sorted(p for p in data.iterdir() if p.name.endswith(".gz"))
    lines = [json.loads(x) for p in gz for x in gzip.decompress(p.read_bytes()).splitlines()]
    assert lines
    assert all(d["schema_version"] == 1 for d in lines)


def test_naive_end_is_read_as_utc(store: JsonlStore) -> None:
    """Stats windows use the same instants whatever the timezone of the bounds."""
    _fill(store, 10)
    cet = timezone(timedelta(hours=1))
    start = datetime(2026, 1, 1, 1, 0, 3, tzinfo=cet)
    assert store_stats(store, start, T0 + timedelta(seconds=5)).total_interactions == 3


def test_concurrent_reads_see_each_segment_once(tmp_path: Path) -> None:
    """Threads scanning at once each see every record exactly once."""
    import threading

    data = tmp_path / "data"
    store = JsonlStore(data, max_file_size_mb=0.004)
    _fill(store, 400)
    expected = [f"i{n}" for n in range(400)]
    results: list[list[str]] = []

    def scan() -> None:
        for _ in range(5):
            results.append([it.id for it in store.scan_interactions()])

    threads = [threading.Thread(target=scan) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20
    assert all(r == expected for r in results)
    store.close()


def test_without_orjson_lines_are_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stdlib encoder (orjson not installed) writes the very same bytes and reads them."""
    from rlhf_otel.stores.jsonl import _format as _jsonl_format

    with JsonlStore(tmp_path / "fast") as fast:
        _fill(fast, 25)
    monkeypatch.setattr(_jsonl_format, "_orjson", None)
    with JsonlStore(tmp_path / "stdlib") as slow:
        _fill(slow, 25)
        assert [it.id for it in slow.scan_interactions()] == [f"i{n}" for n in range(25)]
        assert slow.get_feedback("f3") == feedback(3, "i3")
    fast_lines = sorted(x for ls in raw_lines(tmp_path / "fast").values() for x in ls)
    slow_lines = sorted(x for ls in raw_lines(tmp_path / "stdlib").values() for x in ls)
    assert fast_lines == slow_lines


def test_reads_after_close_say_so(tmp_path: Path) -> None:
    """Reading through a closed store raises StoreError; a new instance reads the data."""
    from rlhf_otel._errors import StoreError

    store = JsonlStore(tmp_path)
    store.write([interaction(1)], [])
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get_interaction("i1")
    with JsonlStore(tmp_path) as again:
        assert again.get_interaction("i1") == interaction(1)
