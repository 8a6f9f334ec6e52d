"""Records/s into a local ZeroDB-compatible server: the store vs a bare httpx loop.

The server runs in its own process on 127.0.0.1 (``tests/servers/zerodb_server.py``). The
baseline posts the very rows the store would send, 1000 a request, with a plain
``httpx.Client`` loop; the store is fed the records 512 at a time (as the exporter does) and
timed until ``flush()`` says all arrived. Target: the store within 1.5x of the baseline's time.

Run: ``python benchmarks/bench_zerodb.py [--quick]``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rlhf_otel.records._model import Interaction, TokenUsage  # noqa: E402
from rlhf_otel.stores.zerodb._rows import TABLE_SCHEMA, encode_record, row_from_record  # noqa: E402
from rlhf_otel.stores.zerodb._store import ZeroDBStore  # noqa: E402

KEY = "bench-key"
PROJECT = "bench"


def _records(n: int) -> list[Interaction]:
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return [
        Interaction(
            id=f"{k:032x}-{k:016x}",
            prompt=f"How do I tune parameter {k}? " * 4,
            response=f"Set it to {k % 97} and re-run the evaluation suite. " * 5,
            timestamp=t0 + timedelta(milliseconds=k),
            model="gpt-4o-mini",
            provider="openai",
            user_id=f"user{k % 50}",
            session_id=f"s{k % 500}",
            latency_ms=123.4,
            token_usage=TokenUsage(40, 90, 130),
            metadata={"route": "/chat", "k": k},
        )
        for k in range(n)
    ]


def _start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.zerodb_server", "--api-key", KEY],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) != 2 or line[0] != "READY":
        proc.kill()
        raise RuntimeError(f"the ZeroDB test server did not start: {line}")
    return proc, f"http://127.0.0.1:{line[1]}"


def _create(client: httpx.Client, table: str) -> None:
    answer = client.post(
        f"/projects/{PROJECT}/database/tables",
        json={"table_name": table, "schema": dict(TABLE_SCHEMA)},
    )
    answer.raise_for_status()


def _drop(url: str, table: str) -> None:
    # Tables left behind would grow the server's heap and slow every later run (GC).
    with httpx.Client(base_url=url + "/api/v1", headers={"X-API-Key": KEY}) as client:
        client.request(
            "DELETE", f"/projects/{PROJECT}/database/tables/{table}", json={"confirm": True}
        ).raise_for_status()


def _bare(url: str, records: list[Interaction], table: str) -> float:
    rows = []
    for n, record in enumerate(records):
        d, text = encode_record(record)
        rows.append(row_from_record(d, text, n))
    with httpx.Client(base_url=url + "/api/v1", headers={"X-API-Key": KEY}) as client:
        _create(client, table)
        started = time.perf_counter()
        for i in range(0, len(rows), 1000):
            answer = client.post(
                f"/projects/{PROJECT}/database/tables/{table}/rows",
                json={"rows": rows[i : i + 1000], "return_ids": False},
            )
            answer.raise_for_status()
        return time.perf_counter() - started


def _store(url: str, records: list[Interaction], table: str, compression: str) -> float:
    with tempfile.TemporaryDirectory() as spool:
        store = ZeroDBStore(
            project_id=PROJECT,
            api_key=KEY,
            base_url=url,
            table_name=table,
            spool_dir=spool,
            compression=compression,
        )
        store.initialize()
        started = time.perf_counter()
        for i in range(0, len(records), 512):
            store.write(records[i : i + 512], [])
        if not store.flush(300.0):
            raise RuntimeError(f"store did not deliver: {store.status()}")
        elapsed = time.perf_counter() - started
        status = store.status()
        store.close()
        if status.delivered != len(records) or status.dropped:
            raise RuntimeError(f"unexpected status {status}")
        return elapsed


def main(quick: bool = False) -> None:
    """Print records/s of the store and of a bare httpx loop, and their ratio."""
    n, rounds = (5_000, 1) if quick else (50_000, 3)
    records = _records(n)
    proc, url = _start_server()
    names = [
        "bare httpx loop (baseline)",
        "ZeroDBStore, gzip (default)",
        "ZeroDBStore, no compression",
    ]
    best = [float("inf")] * 3
    try:
        # Rounds alternate the three paths and keep each one's best time: the machine is shared.
        for r in range(rounds):
            best[0] = min(best[0], _bare(url, records, f"bare{r}"))
            _drop(url, f"bare{r}")
            best[1] = min(best[1], _store(url, records, f"store_gz{r}", "auto"))
            _drop(url, f"store_gz{r}")
            best[2] = min(best[2], _store(url, records, f"store{r}", "none"))
            _drop(url, f"store{r}")
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
    results = list(zip(names, best, strict=True))
    base = results[0][1]
    print(
        f"ZeroDB store: {n:,} interactions into a local server (batches of 1000), best of {rounds}"
    )
    print(f"{'path':<30} {'seconds':>9} {'records/s':>11} {'time vs baseline':>17}")
    for name, seconds in results:
        print(f"{name:<30} {seconds:>9.3f} {n / seconds:>11,.0f} {seconds / base:>16.2f}x")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
