"""The ZeroDB store against the local server, one injected fault at a time."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rlhf_otel import StoreError
from rlhf_otel.stores.zerodb import ZeroDBStore
from tests.guards import returns
from tests.servers.zerodb_server import ZeroDBServer
from tests.stores.zerodb_support import (
    assert_accounted,
    assert_no_leak,
    assert_unique,
    fast,
    interactions,
    new_key,
    spool_lines,
    wait_until,
)

StoreFactory = Callable[..., ZeroDBStore]


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
def server(key: str) -> Iterator[ZeroDBServer]:
    with ZeroDBServer(key) as srv:
        yield srv


@pytest.fixture
def make_store(
    server: ZeroDBServer, key: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> Iterator[StoreFactory]:
    caplog.set_level(logging.DEBUG)
    stores: list[ZeroDBStore] = []

    def make(**overrides: Any) -> ZeroDBStore:
        store = ZeroDBStore(**fast(server, key, tmp_path / "spool", **overrides))
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()
    assert_no_leak(key, caplog.text, *(repr(s) for s in stores), roots=(tmp_path,))


@pytest.mark.parametrize(
    ("code", "checks"), [(408, 0), (429, 0), (500, 1), (502, 1), (503, 0), (504, 1)]
)
def test_retryable_status_is_retried_once_and_delivered(
    server: ZeroDBServer, make_store: StoreFactory, code: int, checks: int
) -> None:
    """A transient status costs one more insert (plus an existence check when it may have
    committed), and every record arrives exactly once."""
    store = make_store()
    store.initialize()
    server.inject("status", code=code)
    store.write(interactions(10), [])
    assert store.flush(5.0) is True
    assert server.count("rows") == 2
    assert server.count("query") == checks
    assert assert_unique(server) == {f"i{k}" for k in range(10)}
    assert store.status().delivered == 10
    assert_accounted(store, 10)


def test_retry_after_is_honoured(server: ZeroDBServer, make_store: StoreFactory) -> None:
    """A 429 with Retry-After: 1 delays the next attempt by about a second."""
    store = make_store()
    store.initialize()
    server.inject("status", code=429, retry_after="1")
    store.write(interactions(3), [])
    assert store.flush(60.0) is True
    first, second = [r for r in server.requests if r.route == "rows"]
    assert second.at - first.at >= 0.95  # a lower bound: a busy machine cannot break it
    assert_accounted(store, 3)


def test_retry_after_is_capped(server: ZeroDBServer, make_store: StoreFactory) -> None:
    """A Retry-After of an hour waits only retry_after_max: the records arrive (within a
    flush bounded far below the hour)."""
    store = make_store(retry_after_max=0.3)
    store.initialize()
    server.inject("status", code=503, retry_after="3600")
    store.write(interactions(3), [])
    assert store.flush(60.0) is True
    first, second = [r for r in server.requests if r.route == "rows"]
    assert second.at - first.at >= 0.25  # a lower bound: a busy machine cannot break it
    assert_unique(server)


def test_hung_response_times_out_checks_and_resends(
    server: ZeroDBServer, make_store: StoreFactory
) -> None:
    """A request that hangs past request_timeout is retried after checking the service does
    not hold its rows; writes never wait for it."""
    store = make_store(request_timeout=0.5)
    store.initialize()
    server.inject("hang", seconds=3.0)
    store.write(interactions(10), [])
    assert store.flush(60.0) is True
    assert (server.count("rows"), server.count("query")) == (2, 1)
    assert len(assert_unique(server)) == 10
    assert_accounted(store, 10)


def test_flush_never_hangs_past_its_timeout(server: ZeroDBServer, make_store: StoreFactory) -> None:
    """flush(0.3) gives up and returns False while the only request hangs for 5 s (a flush
    that waited would see the resend succeed and return True)."""
    store = make_store(request_timeout=5.0)
    store.initialize()
    server.inject("hang", seconds=3600.0)  # released when the server stops
    store.write(interactions(4), [])
    assert returns(lambda: store.flush(0.3)) is False
    assert store.flush(60.0) is True
    assert len(assert_unique(server)) == 4


def test_dropped_connection_after_commit_is_not_resent(
    server: ZeroDBServer, make_store: StoreFactory
) -> None:
    """When the server commits then drops the connection, the existence check finds the rows
    and nothing is sent twice."""
    store = make_store()
    store.initialize()
    server.inject("drop_after_commit")
    store.write(interactions(10), [])
    assert store.flush(5.0) is True
    assert (server.count("rows"), server.count("query")) == (1, 1)
    assert len(assert_unique(server)) == 10
    assert store.status().delivered == 10
    assert_accounted(store, 10)


def test_redirect_is_not_followed_and_gets_no_key(
    server: ZeroDBServer, make_store: StoreFactory, key: str, tmp_path: Path
) -> None:
    """A 307 to another host is not success, is not followed (that host sees no request and so
    never the key), the batch is spooled, and it is delivered once the service behaves."""
    with ZeroDBServer(key) as other:
        store = make_store(probe_interval=0.5)
        store.initialize()
        server.inject("redirect", location=other.url)
        store.write(interactions(5), [])
        assert store.flush(0.3) is False
        status = store.status()
        assert (status.healthy, status.spooled, status.delivered) == (False, 5, 0)
        assert "HTTP 307" in (status.last_error or "")
        assert server.count("rows") == 1
        assert other.requests == []
        assert store.flush(5.0) is True
        assert other.requests == []
    assert (server.count("rows"), server.count("query")) == (2, 1)
    assert len(assert_unique(server)) == 5
    assert_accounted(store, 5)


@pytest.mark.parametrize("code", [401, 403, 405, 410])
def test_refusing_status_is_not_retried_and_is_reported(
    server: ZeroDBServer, make_store: StoreFactory, code: int, tmp_path: Path
) -> None:
    """A 401/403/405/410 is sent once, reported in status and the log, and the records are
    kept in the spool rather than lost."""
    store = make_store(probe_interval=30.0)
    store.initialize()
    server.inject("status", code=code)
    store.write(interactions(6), [])
    assert store.flush(0.5) is False
    status = store.status()
    assert server.count("rows") == 1
    assert (status.spooled, status.delivered, dict(status.dropped)) == (6, 0, {})
    assert f"HTTP {code}" in (status.last_error or "")
    assert [r["id"] for r in spool_lines(tmp_path / "spool")] == [f"i{k}" for k in range(6)]
    assert_accounted(store, 6)


def test_rejected_row_is_isolated_and_dropped(
    server: ZeroDBServer, make_store: StoreFactory
) -> None:
    """A 422 for one bad row splits the batch until only that row is dropped (and counted)."""
    store = make_store()
    store.initialize()
    server.reject_ids = {"i3"}
    store.write(interactions(8), [])
    assert store.flush(5.0) is True
    assert server.count("rows") == 7
    assert store.dropped() == {"rejected_422": 1}
    assert assert_unique(server) == {f"i{k}" for k in range(8)} - {"i3"}
    assert_accounted(store, 8)


def test_bad_request_is_not_retried(server: ZeroDBServer, make_store: StoreFactory) -> None:
    """A 400 for a single record is sent once and counted as dropped."""
    store = make_store()
    store.initialize()
    server.inject("status", code=400)
    store.write(interactions(1), [])
    assert store.flush(5.0) is True
    assert server.count("rows") == 1
    assert store.dropped() == {"rejected_400": 1}
    assert_accounted(store, 1)


def test_budget_exhausted_spools_then_replays(
    server: ZeroDBServer, make_store: StoreFactory
) -> None:
    """Persistent 503s use max_attempts, then the batch waits in the spool; it is replayed
    once the service answers."""
    store = make_store(max_attempts=4, probe_interval=1.0)
    store.initialize()
    server.inject("status", code=503, times=10_000)
    store.write(interactions(7), [])
    assert wait_until(lambda: store.status().spooled == 7)
    assert server.count("rows") == 4
    assert store.status().healthy is False
    server.faults.clear()
    assert store.flush(5.0) is True
    assert (server.count("rows"), server.count("query")) == (5, 1)
    status = store.status()
    assert (status.delivered, status.replayed, status.spooled, status.healthy) == (7, 7, 0, True)
    assert len(assert_unique(server)) == 7


def test_gzip_bodies_are_sent(server: ZeroDBServer, make_store: StoreFactory) -> None:
    """Insert bodies go gzip-compressed when the service accepts them."""
    store = make_store()
    store.initialize()
    store.write(interactions(20), [])
    assert store.flush(5.0) is True
    assert [r.gzip for r in server.requests if r.route == "rows"] == [True]


def test_gzip_refused_with_415_falls_back_to_plain_json(key: str, tmp_path: Path) -> None:
    """A 415 answer to a gzip body turns compression off and resends the same batch."""
    with ZeroDBServer(key, accept_gzip=False) as srv:
        store = ZeroDBStore(**fast(srv, key, tmp_path))
        store.initialize()
        store.write(interactions(20), [])
        assert store.flush(5.0) is True
        store.write(interactions(20, start=20), [])
        assert store.flush(5.0) is True
        store.close()
        assert [(r.gzip, r.status) for r in srv.requests if r.route == "rows"] == [
            (True, 415),
            (False, 201),
            (False, 201),
        ]
        assert store.status().gzip is False
        assert len(assert_unique(srv)) == 40


def test_batches_hold_at_most_1000_rows(server: ZeroDBServer, make_store: StoreFactory) -> None:
    """2,500 records go as inserts of 1000, 1000 and 500 rows."""
    store = make_store(linger=0.2)
    store.initialize()
    store.write(interactions(2500), [])
    assert store.flush(10.0) is True
    assert [r.rows for r in server.requests if r.route == "rows"] == [1000, 1000, 500]


def test_table_is_created_on_first_write_when_missing(
    server: ZeroDBServer, make_store: StoreFactory
) -> None:
    """Without initialize(), the first insert's 404 creates the table and the batch follows."""
    store = make_store()
    store.write(interactions(2), [])
    assert store.flush(5.0) is True
    assert [(r.method, r.route, r.status) for r in server.requests] == [
        ("POST", "rows", 404),
        ("GET", "table", 404),
        ("POST", "tables", 201),
        ("POST", "rows", 201),
    ]


def test_api_key_never_leaks(
    server: ZeroDBServer, key: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Through a wrong key, a redirect, 503s and a failed read, the key shows up in no log
    line, exception, repr, status or file, and cannot be pickled."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    wrong = ZeroDBStore(**fast(server, key + "x", tmp_path / "a", probe_interval=30.0))
    wrong.write(interactions(2), [])
    assert wrong.flush(0.5) is False
    with pytest.raises(StoreError) as failed:
        wrong.get_interaction("i0")
    texts += [
        str(failed.value),
        repr(failed.value),
        repr(wrong),
        repr(wrong.config),
        str(wrong.status()),
    ]
    wrong.close()
    with ZeroDBServer(key) as other:
        store = ZeroDBStore(**fast(server, key, tmp_path / "b", probe_interval=0.2))
        store.initialize()
        server.inject("redirect", location=other.url)
        server.inject("status", code=503, times=3, retry_after="0")
        store.write(interactions(4), [])
        assert store.flush(5.0) is True
        texts += [repr(store), repr(store.config), str(store.config), str(store.status())]
        store.close()
        assert other.requests == []
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(store.config)
    assert "Secret('***')" in repr(store.config.api_key)
    assert "HTTP 401" in caplog.text
    assert_no_leak(key, caplog.text, *texts, roots=(tmp_path,))
    assert len(assert_unique(server)) == 4
