"""The ZeroDB store's reads, writes, setup and configuration against the local server."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import ConfigurationError
from rlhf_otel.records import (
    Feedback,
    FeedbackFilter,
    FeedbackType,
    InteractionFilter,
    compute_stats,
)
from rlhf_otel.stores import MemoryStore, Store
from rlhf_otel.stores.zerodb import ZeroDBConfig, ZeroDBStore
from rlhf_otel.stores.zerodb._rows import TABLE_SCHEMA
from tests.servers.zerodb_server import ZeroDBServer
from tests.stores.zerodb_support import T0, fast, interactions, new_key, ratings


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
def server(key: str) -> Iterator[ZeroDBServer]:
    with ZeroDBServer(key) as srv:
        yield srv


@pytest.fixture
def store(server: ZeroDBServer, key: str, tmp_path: Path) -> Iterator[ZeroDBStore]:
    zs = ZeroDBStore(**fast(server, key, tmp_path, page_size=7))
    zs.initialize()
    yield zs
    zs.close()


def _mixed_feedback() -> list[Feedback]:
    fbs = ratings(12)
    fbs += [
        Feedback(
            id="b1",
            interaction_id="i1",
            type=FeedbackType.BINARY,
            data={"value": "thumbs_up"},
            timestamp=T0 + timedelta(seconds=1),
            user_id="u2",
            source="web",
        ),
        Feedback(
            id="c1",
            interaction_id="i2",
            type=FeedbackType.COMPARATIVE,
            data={"preferred": "i2"},
            timestamp=T0 + timedelta(seconds=3),
            user_id="u2",
            target_ids=("i2", "i5"),
            source="web",
        ),
    ]
    return fbs


def test_initialize_creates_the_table_with_schema_and_indexes(
    server: ZeroDBServer, key: str, tmp_path: Path
) -> None:
    """initialize() creates the table once, with the row schema and its indexes."""
    zs = ZeroDBStore(**fast(server, key, tmp_path))
    assert zs.initialize() is True
    assert zs.initialize() is False
    zs.close()
    (table,) = server.tables.values()
    assert table.schema == dict(TABLE_SCHEMA)
    assert table.schema["indexes"] == [
        "id",
        "type",
        "interaction_id",
        "target_ids",
        "timestamp",
        "user_id",
        "session_id",
        "idempotency_key",
        "written_us",
    ]


def test_records_round_trip_and_reads_see_writes_at_once(store: ZeroDBStore) -> None:
    """A record read right after write() (no explicit flush) equals what was written."""
    its, fbs = interactions(3), _mixed_feedback()
    store.write(its, fbs)
    assert store.get_interaction("i1") == its[1]
    assert store.get_feedback("c1") == fbs[-1]
    assert store.get_interaction("nope") is None
    assert store.get_feedback("i1") is None
    assert isinstance(store, Store)


def test_scans_page_through_limit_and_offset(server: ZeroDBServer, store: ZeroDBStore) -> None:
    """30 interactions come back in write order over 5 pages of 7; offset/limit apply."""
    store.write(interactions(30), [])
    assert [it.id for it in store.scan_interactions()] == [f"i{k}" for k in range(30)]
    queries = [r.query for r in server.requests if r.route == "query"]
    assert [(q["limit"], q["offset"]) for q in queries] == [
        (7, 0),
        (7, 7),
        (7, 14),
        (7, 21),
        (7, 28),
    ]
    assert queries[0]["filter"] == {"type": "interaction"}
    assert queries[0]["sort"] == {"written_us": 1, "id": 1}
    window = InteractionFilter(offset=5, limit=10)
    assert [it.id for it in store.scan_interactions(window)] == [f"i{k}" for k in range(5, 15)]
    assert list(store.scan_interactions(InteractionFilter(limit=0))) == []


def test_filters_are_pushed_down_as_mongo_filters(server: ZeroDBServer, store: ZeroDBStore) -> None:
    """A feedback filter reaches the service as the MongoDB-style filter it stands for."""
    store.write([], _mixed_feedback())
    flt = FeedbackFilter(
        start_time=T0,
        end_time=T0 + timedelta(seconds=9),
        user_id="u1",
        min_rating=2,
        max_rating=4,
        interaction_ids=["i3", "i4"],
    )
    assert [fb.id for fb in store.scan_feedback(flt)] == ["f3"]
    assert [r.query for r in server.requests if r.route == "query"][-1]["filter"] == {
        "type": "feedback",
        "timestamp": {"$gte": "2026-03-01T12:00:00.000000Z", "$lte": "2026-03-01T12:00:09.000000Z"},
        "user_id": "u1",
        "target_ids": {"$in": ["i3", "i4"]},
        "rating": {"$gte": 2, "$lte": 4},
        "feedback_type": {"$in": ["rating"]},
    }


@pytest.mark.parametrize(
    "flt",
    [
        None,
        FeedbackFilter(types=[FeedbackType.BINARY, FeedbackType.COMPARATIVE]),
        FeedbackFilter(min_rating=4),
        FeedbackFilter(max_rating=2, types=[FeedbackType.RATING, FeedbackType.TEXT]),
        FeedbackFilter(interaction_ids=["i5"]),
        FeedbackFilter(user_id="u2", source="web"),
        FeedbackFilter(start_time=T0 + timedelta(seconds=3), end_time=T0 + timedelta(seconds=6)),
        FeedbackFilter(types=[FeedbackType.TEXT], min_rating=1),
        FeedbackFilter(offset=3, limit=4),
    ],
)
def test_feedback_scans_match_the_memory_store(store: ZeroDBStore, flt: FeedbackFilter) -> None:
    """Every feedback filter selects what the in-memory store selects, in the same order."""
    memory = MemoryStore()
    fbs = _mixed_feedback()
    memory.write([], fbs)
    store.write([], fbs)
    assert [f.id for f in store.scan_feedback(flt)] == [f.id for f in memory.scan_feedback(flt)]


@pytest.mark.parametrize(
    "flt",
    [
        InteractionFilter(user_id="u2"),
        InteractionFilter(model="m2", session_id="s2"),
        InteractionFilter(ids=["a3", "b1", "zz"]),
        InteractionFilter(start_time=T0 + timedelta(seconds=2), end_time=T0 + timedelta(seconds=4)),
    ],
)
def test_interaction_scans_match_the_memory_store(
    store: ZeroDBStore, flt: InteractionFilter
) -> None:
    """Every interaction filter selects what the in-memory store selects."""
    its = interactions(6, "a") + interactions(4, "b", user="u2", session="s2", model="m2")
    memory = MemoryStore()
    memory.write(its, [])
    store.write(its, [])
    assert [i.id for i in store.scan_interactions(flt)] == [
        i.id for i in memory.scan_interactions(flt)
    ]


def test_feedback_for_interaction_includes_comparative_targets(store: ZeroDBStore) -> None:
    """Feedback naming an interaction as any of its targets is found for it."""
    store.write([], _mixed_feedback())
    assert [f.id for f in store.get_feedback_for_interaction("i2")] == ["f2", "c1"]
    assert [f.id for f in store.get_feedback_for_interaction("i5")] == ["f5", "c1"]


def test_stats_over_zerodb_equal_stats_over_memory(store: ZeroDBStore) -> None:
    """compute_stats gives the same figures over ZeroDB as over the memory store."""
    its, fbs = interactions(12), _mixed_feedback()
    memory = MemoryStore()
    memory.write(its, fbs)
    store.write(its, fbs)
    end = T0 + timedelta(days=1)
    assert compute_stats(store, T0, end).to_dict() == compute_stats(memory, T0, end).to_dict()


def test_the_same_record_written_twice_reads_once(server: ZeroDBServer, store: ZeroDBStore) -> None:
    """One batch sends a repeated record once; across batches the table may hold it twice,
    and scans still list each id once."""
    store.write(interactions(3) + interactions(3), [])
    assert store.flush(5.0) is True
    assert len(server.rows()) == 3
    store.write(interactions(3), [])
    assert store.flush(5.0) is True
    assert len(server.rows()) == 6
    assert [i.id for i in store.scan_interactions()] == ["i0", "i1", "i2"]


def test_a_feedback_id_stored_twice_counts_its_first_copy(store: ZeroDBStore) -> None:
    """A resent feedback id (a later copy with another rating) counts once: the first copy,
    in scans, get_feedback and stats; the later copy is counted in read_problems."""
    first, later = (
        ratings(1)[0],
        dataclasses.replace(ratings(1)[0], data={"rating": 4.0, "max_rating": 5.0}),
    )
    store.write(interactions(1), [first])
    assert store.flush(5.0) is True
    store.write([], [later])
    assert store.flush(5.0) is True
    assert [f.data["rating"] for f in store.scan_feedback()] == [first.data["rating"]]
    got = store.get_feedback(first.id)
    assert got is not None
    assert got.data["rating"] == first.data["rating"]
    stats = compute_stats(store, None, T0 + timedelta(days=1))
    assert stats.rating is not None
    assert (stats.rating.count, stats.rating.average) == (1, float(first.data["rating"]))
    list(store.scan_feedback())
    assert store.read_problems() == {"duplicate_feedback_id": 1}


def test_purge_deletes_by_user_and_time(store: ZeroDBStore) -> None:
    """purge() removes delivered rows of a user, or older than a time, and says how many."""
    store.write(interactions(4) + interactions(3, "x", user="u9"), [])
    assert store.purge(user_id="u9") == 3
    assert store.purge(before=T0 + timedelta(seconds=2)) == 2
    assert [i.id for i in store.scan_interactions()] == ["i2", "i3"]
    with pytest.raises(ValueError, match="before= and/or user_id="):
        store.purge()


def test_config_reads_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """project_id and api_key come from ZERODB_PROJECT_ID / ZERODB_API_KEY when not passed."""
    monkeypatch.setenv("ZERODB_PROJECT_ID", "envproj")
    monkeypatch.setenv("ZERODB_API_KEY", "envkey-123")
    monkeypatch.setenv("RLHF_OTEL_ZERODB_SPOOL_DIR", str(tmp_path))
    config = ZeroDBConfig()
    assert (config.project_id, config.secret.reveal()) == ("envproj", "envkey-123")
    assert config.api_root == "https://api.ainative.studio/api/v1"
    assert config.spool_path == tmp_path / "envproj" / "rlhf_feedback"
    assert "envkey-123" not in repr(config)
    explicit = ZeroDBConfig(project_id="p", api_key="k", base_url="http://127.0.0.1:9/api/v2/")
    assert (explicit.project_id, explicit.api_root) == ("p", "http://127.0.0.1:9/api/v2")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_key": "k"}, "needs a project_id"),
        ({"project_id": "p"}, "needs an API key"),
        (
            {"project_id": "p", "api_key": "k", "batch_size": 1001},
            r"batch_size must be an int in 1\.\.1000",
        ),
        ({"project_id": "p", "api_key": "k", "base_url": "ftp://x"}, "must start with http"),
        ({"project_id": "p", "api_key": "k", "retry_budget": 0}, "retry_budget must be > 0"),
        ({"project_id": "p", "api_key": "k", "compression": "br"}, "compression must be"),
        ({"project_id": "p", "api_key": "k", "table_name": "a/b"}, "table_name must be"),
    ],
)
def test_config_rejects_bad_values(
    monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, object], message: str
) -> None:
    """Bad settings raise ConfigurationError saying what is allowed."""
    monkeypatch.delenv("ZERODB_PROJECT_ID", raising=False)
    monkeypatch.delenv("ZERODB_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match=message):
        ZeroDBConfig(**kwargs)  # type: ignore[arg-type]


def test_initialize_while_down_returns_none_without_raising(
    server: ZeroDBServer, key: str, tmp_path: Path
) -> None:
    """initialize() against a refusing service returns None at once; the first write after
    the service is back creates the table itself."""
    zs = ZeroDBStore(**fast(server, key, tmp_path, probe_interval=0.2))
    server.outage(1.0)
    assert zs.initialize() is None
    zs.write(interactions(2), [])
    assert zs.flush(5.0) is True
    zs.close()
    assert [it["id"] for it in server.rows()] == ["i0", "i1"]


def test_logger_on_zerodb_logs_reads_and_counts(
    server: ZeroDBServer,
    key: str,
    tmp_path: Path,
    tracer_provider: TracerProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The logger's zerodb backend stores interactions and feedback through the exporter
    and reads them back, stats included."""
    from rlhf_otel import create_rlhf_logger

    monkeypatch.setenv("RLHF_OTEL_ZERODB_SPOOL_DIR", str(tmp_path))
    logger = create_rlhf_logger(
        backend="zerodb",
        zerodb_project_id="proj1",
        zerodb_api_key=key,
        zerodb_base_url=server.url,
        tracer_provider=tracer_provider,
    )
    try:
        iid = logger.log_interaction("2+2?", "4", model="m1", user_id="u1")
        logger.log_rating(iid, 5)
        assert logger.flush(10.0) is True
        assert logger.get_interaction(iid) is not None
        assert [f.data["rating"] for f in logger.query_feedback(FeedbackFilter())] == [5]
        assert logger.get_feedback_stats().total_feedback == 1
    finally:
        logger.close()
    assert sorted(row["type"] for row in server.rows()) == ["feedback", "interaction"]
