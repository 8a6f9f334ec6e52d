"""The ZeroDB store through a real outage, a restart, and a spool left by an earlier process."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from rlhf_otel.records import record_from_dict
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
    ratings,
    spool_lines,
    wait_until,
)

# The outage is 60 s; CI runs a shorter one. ZERODB_TEST_OUTAGE_SECONDS=60 runs it whole.
OUTAGE_SECONDS = float(os.environ.get("ZERODB_TEST_OUTAGE_SECONDS", "2.5"))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
def server(key: str) -> Iterator[ZeroDBServer]:
    with ZeroDBServer(key) as srv:
        yield srv


@pytest.mark.parametrize("mode", ["refuse", "503"])
def test_outage_spools_and_recovers_with_every_record_once(
    server: ZeroDBServer, key: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    """Records logged before, during and after an outage all reach the service exactly once;
    during it they wait in the spool and the store reports itself unhealthy."""
    caplog.set_level(logging.INFO)
    store = ZeroDBStore(
        **fast(server, key, tmp_path / "spool", probe_interval=0.3, retry_budget=0.8)
    )
    store.initialize()
    logged = 0
    samples: list[tuple[float, bool, int]] = []
    stop = threading.Event()

    def produce() -> None:
        nonlocal logged
        k = 0
        while not stop.is_set():
            store.write(interactions(5, start=k), [])
            k += 5
            logged = k
            samples.append((time.monotonic(), store.status().healthy, store.status().spooled))
            time.sleep(0.05)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.3)
    began = time.monotonic()
    server.outage(OUTAGE_SECONDS, mode=mode)
    time.sleep(OUTAGE_SECONDS + 0.5)
    stop.set()
    producer.join()
    assert store.flush(60.0) is True

    # The batch in flight when the outage starts retries for up to retry_budget (0.8 s).
    during = [s for s in samples if began + 1.0 < s[0] < began + OUTAGE_SECONDS - 0.2]
    assert during
    assert not any(healthy for _, healthy, _ in during)
    assert max(spooled for _, _, spooled in during) > 0
    assert assert_unique(server) == {f"i{k}" for k in range(logged)}
    status = store.status()
    assert (status.delivered, status.spooled, dict(status.dropped)) == (logged, 0, {})
    assert status.replayed > 0
    assert spool_lines(tmp_path / "spool") == []
    assert "cannot deliver" in caplog.text
    assert "answers again" in caplog.text
    assert_accounted(store, logged)
    store.close()
    assert_no_leak(key, caplog.text, roots=(tmp_path,))


def test_next_process_replays_the_spool(server: ZeroDBServer, key: str, tmp_path: Path) -> None:
    """Records spooled by a process that closed during an outage are delivered, once, by the
    next process (a real subprocess reading the key from ZERODB_API_KEY)."""
    spool = tmp_path / "spool"
    store = ZeroDBStore(**fast(server, key, spool, probe_interval=60.0))
    store.initialize()
    server.outage(60.0)
    store.write(interactions(20), ratings(5))
    assert store.flush(1.0) is False
    store.close()
    lines = spool_lines(spool)
    assert len(lines) == 25
    assert [record_from_dict(d).id for d in lines[:3]] == ["i0", "i1", "i2"]
    assert {d["kind"] for d in lines} == {"interaction", "feedback"}
    assert server.rows() == []

    server.stop()
    revived = ZeroDBServer(key)
    revived.port, revived.tables = server.port, server.tables
    with revived:
        script = (
            "import json\n"
            "from rlhf_otel.stores.zerodb._store import ZeroDBStore\n"
            f"s = ZeroDBStore(project_id='proj1', base_url={revived.url!r}, "
            f"spool_dir={str(spool)!r}, probe_interval=0.2, backoff_base=0.01)\n"
            "ok = s.flush(10)\n"
            "st = s.status()\n"
            "s.close()\n"
            "print(json.dumps({'ok': ok, 'replayed': st.replayed, 'accepted': st.accepted}))\n"
        )
        env = {**os.environ, "ZERODB_API_KEY": key, "PYTHONPATH": str(ROOT)}
        env.pop("ZERODB_PROJECT_ID", None)
        done = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert json.loads(done.stdout.strip().splitlines()[-1]) == {
            "ok": True,
            "replayed": 25,
            "accepted": 0,
        }
        assert key not in done.stdout + done.stderr
        ids = assert_unique(revived)
    assert ids == {f"i{k}" for k in range(20)} | {f"f{k}" for k in range(5)}
    assert spool_lines(spool) == []


def test_replay_skips_records_the_service_already_holds(
    server: ZeroDBServer, key: str, tmp_path: Path
) -> None:
    """A spool line whose record was in fact committed is not stored a second time."""
    spool = tmp_path / "spool"
    first = ZeroDBStore(**fast(server, key, spool))
    first.initialize()
    first.write(interactions(6), [])
    assert first.flush(5.0) is True
    first.close()
    folder = spool / "proj1" / "rlhf_feedback"
    folder.mkdir(parents=True, exist_ok=True)
    from rlhf_otel.stores.zerodb._rows import encode_record

    lines = [encode_record(it)[1] for it in interactions(10)]
    (folder / "spool-1-dead-0.jsonl").write_text("\n".join(lines) + "\n")
    second = ZeroDBStore(**fast(server, key, spool))
    assert wait_until(lambda: second.status().replayed == 10)
    second.close()
    assert assert_unique(server) == {f"i{k}" for k in range(10)}
    assert spool_lines(spool) == []


def test_writes_never_block_and_overflow_goes_to_the_spool(
    server: ZeroDBServer, key: str, tmp_path: Path
) -> None:
    """While the sender is stuck on a hung request, write() returns at once; past max_queue
    records go to the spool; afterwards every record is delivered once."""
    store = ZeroDBStore(**fast(server, key, tmp_path, max_queue=10, request_timeout=10.0))
    store.initialize()
    server.inject("hang", seconds=3600.0)  # released when the server stops
    store.write(interactions(5), [])
    assert wait_until(lambda: server.count("rows") == 1)
    for k in range(5, 50, 5):
        returns(partial(store.write, interactions(5, start=k), []))
    status = store.status()
    assert (status.queued, status.spooled) == (10, 35)
    assert store.flush(60.0) is True
    assert assert_unique(server) == {f"i{k}" for k in range(50)}
    assert_accounted(store, 50)
    store.close()


def test_without_spool_undeliverable_records_are_counted_dropped(
    server: ZeroDBServer, key: str, tmp_path: Path
) -> None:
    """With spool=False a batch that exhausts its budget is dropped and counted."""
    store = ZeroDBStore(**fast(server, key, tmp_path, spool=False, max_attempts=2))
    store.initialize()
    server.inject("status", code=503, times=2)
    store.write(interactions(3), [])
    assert wait_until(lambda: store.dropped() == {"unavailable": 3})
    assert store.flush(1.0) is True
    assert_accounted(store, 3)
    assert list(tmp_path.rglob("spool-*")) == []
    store.close()


def test_close_during_outage_returns_promptly_and_keeps_records(
    server: ZeroDBServer, key: str, tmp_path: Path
) -> None:
    """close() while the service refuses connections does not wait out a flush_timeout of
    an hour."""
    store = ZeroDBStore(**fast(server, key, tmp_path, flush_timeout=3600.0, probe_interval=3600.0))
    store.initialize()
    server.outage(3600.0)
    store.write(interactions(4), [])
    returns(store.close)
    assert len(spool_lines(tmp_path)) == 4
    store.write(interactions(2, start=4), [])
    assert len(spool_lines(tmp_path)) == 6
