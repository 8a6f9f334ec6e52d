"""The ZeroDB store under hostile answers and outages: key masking, file modes, bounded waits."""

from __future__ import annotations

import base64
import logging
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from rlhf_otel import RLHFConfig, RLHFLogger, StoreError
from rlhf_otel.stores.zerodb import ZeroDBStore
from tests.guards import returns
from tests.servers.zerodb_server import ZeroDBServer
from tests.stores.zerodb_support import (
    echo_body,
    fast,
    interactions,
    key_encodings,
    key_traces,
    slashed_key,
    spool_lines,
    wait_until,
)


@pytest.fixture
def key() -> str:
    return slashed_key()


@pytest.fixture
def server(key: str) -> Iterator[ZeroDBServer]:
    with ZeroDBServer(key) as srv:
        yield srv


def test_oracle_sees_every_encoding(key: str) -> None:
    """The leak check itself finds the key in each encoding the echoing server uses."""
    for name, form in key_encodings(key).items():
        assert key_traces(f"x {form} y", key) != [], name


def test_key_echoed_in_any_encoding_shows_nowhere(
    server: ZeroDBServer, key: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server echoing the key (raw, JSON-escaped with \\/, \\u, URL-encoded, base64, hex,
    HTML) in 500, 401, 403, 422 and redirect answers gets it masked in every log record,
    StoreError and status().last_error, and each quotes at most 200 characters of the body."""
    caplog.set_level(logging.DEBUG)
    body = echo_body(key)
    texts: list[str] = []
    store = ZeroDBStore(**fast(server, key, tmp_path / "a", probe_interval=30.0))
    server.inject("status", route="table", code=500, body=body)
    assert store.initialize() is None
    texts.append(store.status().last_error or "")
    assert store.initialize() is True
    server.inject("status", code=401, body=body)
    store.write(interactions(3), [])
    assert store.flush(0.5) is False
    texts.append(store.status().last_error or "")
    assert "HTTP 401" in texts[-1]
    server.inject("status", route="query", code=403, body=body)
    with pytest.raises(StoreError) as refused:
        store.get_interaction("i0")
    texts += [str(refused.value), repr(refused.value)]
    store.close()

    other = ZeroDBStore(**fast(server, key, tmp_path / "b", probe_interval=30.0))
    server.inject("status", code=422, body=body)
    other.write(interactions(1), [])
    assert other.flush(5.0) is True
    assert other.dropped() == {"rejected_422": 1}
    b64 = base64.b64encode(key.encode()).decode()
    server.inject("redirect", location=f"http://127.0.0.1:9/{quote(key, safe='')}/{b64}")
    other.write(interactions(1, start=1), [])
    assert other.flush(0.5) is False
    texts.append(other.status().last_error or "")
    assert "redirect" in texts[-1]
    other.close()

    messages = [r.getMessage() for r in caplog.records]
    assert any("HTTP 401" in m for m in messages)
    assert any("HTTP 422" in m for m in messages)
    for text in [*texts, *messages, caplog.text]:
        assert key_traces(text, key) == [], text[:300]
    quoted = [t for t in texts if "bad key" in t]
    assert len(quoted) == 4
    for text in quoted:
        assert len(text.split("HTTP ", 1)[1]) <= 200 + 120, text
    assert max(len(m) for m in messages) < 600


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_spool_is_owner_only_at_any_umask(
    server: ZeroDBServer, key: str, tmp_path: Path, umask: int
) -> None:
    """Spool folders are 0700 and spool files 0600 whatever the umask."""
    root = tmp_path / "state" / "spool"
    old = os.umask(umask)
    try:
        store = ZeroDBStore(**fast(server, key, root, max_attempts=1, probe_interval=30.0))
        server.inject("status", code=503, times=100)
        store.write(interactions(4), [])
        assert wait_until(lambda: store.status().spooled == 4)
        store.close()
    finally:
        os.umask(old)
    assert len(spool_lines(root)) == 4
    modes = {
        str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode)
        for p in [tmp_path / "state", *sorted((tmp_path / "state").rglob("*"))]
    }
    files = {p: m for p, m in modes.items() if "spool-" in p}
    folders = {p: m for p, m in modes.items() if "spool-" not in p}
    assert len(files) == 1
    assert set(files.values()) == {0o600}
    assert folders == {
        "state": 0o700,
        "state/spool": 0o700,
        "state/spool/proj1": 0o700,
        "state/spool/proj1/rlhf_feedback": 0o700,
    }


def _default_store(server: ZeroDBServer, key: str, spool: Path, **options: object) -> ZeroDBStore:
    """A store with the default timeouts, retries and backoffs."""
    return ZeroDBStore(
        project_id="proj1", api_key=key, base_url=server.url, spool_dir=spool, **options
    )


@pytest.mark.parametrize("mode", ["refuse", "503"])
def test_reads_during_an_outage_fail_within_the_read_timeout(
    server: ZeroDBServer, key: str, tmp_path: Path, mode: str
) -> None:
    """A read while the service refuses connections or answers 503 raises StoreError once
    read_timeout (5 s) is spent, pending writes included, although writes may retry for an
    hour; close() gives up after flush_timeout and spools them (hang guard only)."""
    store = _default_store(
        server, key, tmp_path, retry_budget=3600.0, max_attempts=1000, flush_timeout=2.0
    )
    assert store.initialize() is True
    server.outage(3600.0, mode=mode)
    store.write(interactions(5), [])
    for read in (lambda: store.get_interaction("i0"), lambda: store.query_feedback()):
        with pytest.raises(StoreError, match="ZeroDB query failed"):
            returns(read)
    returns(store.close)
    assert len(spool_lines(tmp_path)) == 5
    assert store.config.read_timeout == 5.0


@pytest.mark.parametrize("code", [401, 403])
def test_refused_key_fails_reads_at_once(
    server: ZeroDBServer, key: str, tmp_path: Path, code: int
) -> None:
    """A 401/403 to a read is not retried: StoreError at once, saying the key was refused,
    even with writes pending that got the same answer."""
    store = _default_store(server, key, tmp_path, probe_interval=1.0)
    assert store.initialize() is True
    server.inject("status", route="any", code=code, times=1000)
    store.write(interactions(3), [])
    with pytest.raises(StoreError, match="the API key was refused") as refused:
        store.get_interaction("i0")
    assert f"HTTP {code}" in str(refused.value)
    assert server.count("query") == 1
    store.close()
    assert len(spool_lines(tmp_path)) == 3


def test_close_with_the_service_down_is_bounded_by_export_timeout(
    server: ZeroDBServer,
    key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A logger on ZeroDB closes (export_timeout 2 s) while the service refuses connections
    for an hour, logs a WARNING saying how many records went to the spool, and status()
    counts them."""
    caplog.set_level(logging.WARNING, logger="rlhf_otel.stores.zerodb")
    monkeypatch.setenv("RLHF_OTEL_ZERODB_SPOOL_DIR", str(tmp_path))
    logger = RLHFLogger(
        RLHFConfig(
            backend="zerodb",
            zerodb_project_id="proj1",
            zerodb_api_key=key,
            zerodb_base_url=server.url,
            export_timeout=2.0,
            enable_session_tracking=False,
        )
    )
    logger.initialize()
    server.outage(3600.0)
    for k in range(6):
        logger.log_interaction(f"q{k}", f"a{k}", model="m1", user_id="u1")
    store = logger.store
    assert isinstance(store, ZeroDBStore)
    returns(logger.close)
    assert store.status().spooled == 6
    assert len(spool_lines(tmp_path)) == 6
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("closed with 6 record(s) in the spool" in m for m in warnings), warnings


def test_close_with_a_hung_request_is_bounded_and_keeps_the_records(
    key: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """close() while an insert hangs (a request timeout of an hour) returns after
    flush_timeout, while the request still hangs, spools the stuck records once, and the
    request's end changes nothing."""
    caplog.set_level(logging.WARNING, logger="rlhf_otel.stores.zerodb")
    with ZeroDBServer(key) as server:
        store = _default_store(server, key, tmp_path, flush_timeout=1.5, request_timeout=3600.0)
        assert store.initialize() is True
        server.inject("hang", seconds=3600.0)  # released when the server stops
        store.write(interactions(4), [])
        assert wait_until(lambda: server.count("rows") == 1)
        returns(store.close)
        assert store.status().spooled == 4
    time.sleep(1.0)  # the hung request has ended; the abandoned sender must not spool again
    assert store.status().spooled == 4
    assert [r["id"] for r in spool_lines(tmp_path)] == ["i0", "i1", "i2", "i3"]
    assert any("closed with 4 record(s) in the spool" in r.getMessage() for r in caplog.records)
