"""The local JSONL store: write throughput vs the raw floor, and reads at 1M + 1M records.

Write: the same interactions and feedback go (a) into ``JsonlStore.write`` 512 at a time
with the default settings (fsync every second, 100 MiB segments) and (b) through the raw
floor: the schema dict of each record serialised with the fastest JSON encoder (orjson
when installed) and appended to one file, 512 records a write, one fsync at the end.
Target: the store at >= 0.5x the floor's records/s.

Read: a synthetic store of 1,000,000 interactions and 1,000,000 feedback (written in the
schema by ``write_synthetic_store``), then open, lookup by id (first lookup of a segment
builds its index; then steady state), ``store_stats`` (the analytics engine over every
segment, each run) and a filtered query. Baselines: reading every byte of the store once
(for open, stats and the query) and finding one id by scanning all files (for lookups).
Target: lookup < 5 ms.

Run: ``python benchmarks/bench_jsonl.py [--quick]`` (quick: 20,000 + 20,000 records).
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rlhf_otel.analytics import store_stats  # noqa: E402
from rlhf_otel.records._model import (  # noqa: E402
    Feedback,
    FeedbackFilter,
    FeedbackType,
    Interaction,
    TokenUsage,
)
from rlhf_otel.records._schema import feedback_to_dict, interaction_to_dict  # noqa: E402
from rlhf_otel.stores.jsonl._format import _orjson, dumps_line  # noqa: E402
from rlhf_otel.stores.jsonl._store import JsonlStore  # noqa: E402
from rlhf_otel.stores.jsonl._synth import write_synthetic_store  # noqa: E402

BATCH = 512


def _records(n: int, first: int = 0) -> tuple[list[Interaction], list[Feedback]]:
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    its = [
        Interaction(
            id=f"{k + 1:032x}-{k + 1:016x}",
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
        for k in range(first, first + n)
    ]
    fbs = [
        Feedback(
            id=f"{first + k + 1:032x}",
            interaction_id=its[k].id,
            type=FeedbackType.RATING,
            data={"rating": k % 5 + 1, "min_rating": 1, "max_rating": 5, "comment": None},
            timestamp=its[k].timestamp + timedelta(seconds=1),
            user_id=its[k].user_id,
            target_ids=(its[k].id,),
        )
        for k in range(n)
    ]
    return its, fbs


def _write_store(path: Path, its: list[Interaction], fbs: list[Feedback]) -> float:
    store = JsonlStore(path)
    started = time.perf_counter()
    for k in range(0, len(its), BATCH // 2):
        store.write(its[k : k + BATCH // 2], fbs[k : k + BATCH // 2])
    store.flush()
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def _write_floor(path: Path, its: list[Interaction], fbs: list[Feedback]) -> float:
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    for k in range(0, len(its), BATCH // 2):
        lines = [dumps_line(interaction_to_dict(it)) for it in its[k : k + BATCH // 2]]
        lines += [dumps_line(feedback_to_dict(fb)) for fb in fbs[k : k + BATCH // 2]]
        os.write(fd, b"".join(lines))
    os.fsync(fd)
    os.close(fd)
    return time.perf_counter() - started


def _log_through(logger_kwargs: dict[str, object], n: int) -> float:
    from opentelemetry.sdk.trace import TracerProvider

    from rlhf_otel import create_rlhf_logger

    provider = TracerProvider()
    logger = create_rlhf_logger(
        tracer_provider=provider,
        batch_size=BATCH,
        enable_session_tracking=False,
        **logger_kwargs,
    )
    started = time.perf_counter()
    for k in range(n):
        iid = logger.log_interaction(
            f"How do I tune parameter {k}? " * 4,
            f"Set it to {k % 97} and re-run the evaluation suite. " * 5,
            model="gpt-4o-mini",
            user_id=f"user{k % 50}",
            metadata={"route": "/chat", "k": k},
        )
        logger.log_rating(iid, k % 5 + 1)
    assert logger.flush()
    elapsed = time.perf_counter() - started
    logger.close()
    provider.shutdown()
    return elapsed


def _bench_logger(tmp: Path, n: int) -> None:
    memory, local = [], []
    for k in range(3):
        memory.append(_log_through({"backend": "memory", "memory_max_entries": None}, n))
        local.append(_log_through({"backend": "local", "data_dir": str(tmp / f"lg{k}")}, n))
    print(f"\nlogger: {n:,} log_interaction + {n:,} log_rating, batch_size {BATCH}")
    _table(
        [
            (
                "logger -> JSONL store records/s",
                f"{2 * n / min(local):,.0f}",
                f"{2 * n / min(memory):,.0f} (-> memory)",
                f"{min(memory) / min(local):.2f}x of memory store",
            )
        ]
    )


def _table(rows: list[tuple[str, ...]]) -> None:
    header = ("measure", "value", "baseline", "ratio")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def _read_everything(path: Path) -> float:
    started = time.perf_counter()
    for p in path.iterdir():
        if p.name.endswith((".jsonl", ".gz")):
            with open(p, "rb") as f:
                while f.read(1 << 22):
                    pass
    return time.perf_counter() - started


def _scan_for(path: Path, needle: bytes) -> float:
    started = time.perf_counter()
    for p in sorted(path.iterdir()):
        if p.name.endswith(".jsonl") and needle in p.read_bytes():
            break
    return time.perf_counter() - started


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(quick: bool = False) -> None:
    """Print the write and read figures (quick: small sizes for a smoke run)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-jsonl-"))
    try:
        _bench_write(tmp, 5_000 if quick else 100_000)
        _bench_logger(tmp, 1_000 if quick else 20_000)
        _bench_read(tmp, 20_000 if quick else 1_000_000)
        _bench_written(tmp, 20_000 if quick else 1_000_000)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bench_write(tmp: Path, n: int) -> None:
    its, fbs = _records(n)
    floors, stores = [], []
    for k in range(3):  # interleaved, best of three: the machine may be shared
        floors.append(_write_floor(tmp / f"floor{k}.jsonl", its, fbs))
        stores.append(_write_store(tmp / f"store{k}", its, fbs))
    floor, store = min(floors), min(stores)
    encoder = "orjson" if _orjson is not None else "json"
    print(f"write: {n:,} interactions + {n:,} feedback, batches of {BATCH}, encoder {encoder}")
    _table(
        [
            (
                "store records/s (fsync 1 s)",
                f"{2 * n / store:,.0f}",
                f"{2 * n / floor:,.0f}",
                f"{floor / store:.2f}x of floor",
            )
        ]
    )


def _bench_read(tmp: Path, n: int) -> None:
    data = tmp / "big"
    started = time.perf_counter()
    syn = write_synthetic_store(data, interactions=n, feedback=n, seed=11)
    gen = time.perf_counter() - started
    size = sum(p.stat().st_size for p in data.iterdir())
    print(
        f"\nread: {n:,} interactions + {n:,} feedback, {size / 1e6:,.0f} MB in "
        f"{syn.segments} segments (generated in {gen:.1f} s)"
    )
    raw = min(_read_everything(data) for _ in range(2))
    rng = random.Random(5)
    sample = rng.sample(syn.interaction_ids, min(200, len(syn.interaction_ids)))
    scan = _scan_for(data, sample[0].encode())

    started = time.perf_counter()
    store = JsonlStore(data)
    opened = time.perf_counter() - started
    started = time.perf_counter()
    assert store.get_interaction(sample[0]) is not None
    assert store.get_feedback(syn.feedback_ids[0]) is not None
    first = time.perf_counter() - started
    rss_before = _rss_mb()
    times = []
    for rid in sample:
        t = time.perf_counter()
        assert store.get_interaction(rid) is not None
        times.append(time.perf_counter() - t)
    for rid in syn.feedback_ids[: len(sample)]:
        t = time.perf_counter()
        assert store.get_feedback(rid) is not None
        times.append(time.perf_counter() - t)
    p50, p99 = statistics.median(times), sorted(times)[int(len(times) * 0.99) - 1]
    rss_lookups = _rss_mb() - rss_before
    end = syn.last_timestamp + timedelta(days=1)
    started = time.perf_counter()
    cold = store_stats(store, None, end)
    stats_cold = time.perf_counter() - started
    started = time.perf_counter()
    warm = store_stats(store, None, end)
    stats_warm = time.perf_counter() - started
    assert warm == cold
    assert cold.total_interactions == n
    # Repeated votes by one user on one target count once (records/_counting.py), and the
    # synthetic raters do repeat themselves, so counted feedback is at most what was written.
    assert 0 < cold.total_feedback <= n
    started = time.perf_counter()
    hits = sum(1 for _ in store.scan_feedback(FeedbackFilter(user_id="user-7", min_rating=4)))
    query = time.perf_counter() - started
    store.close()
    started = time.perf_counter()
    with JsonlStore(data) as again:
        reopened = time.perf_counter() - started
        started = time.perf_counter()
        store_stats(again, None, end)
        stats_reopened = time.perf_counter() - started
    _table(
        [
            ("open", f"{opened * 1e3:.1f} ms", f"read all {raw:.2f} s", f"{opened / raw:.4f}x"),
            (
                "reopen",
                f"{reopened * 1e3:.1f} ms",
                f"read all {raw:.2f} s",
                f"{reopened / raw:.4f}x",
            ),
            (
                "first 2 lookups (build all indexes)",
                f"{first:.2f} s",
                f"scan {scan:.2f} s",
                f"{first / scan:.2f}x",
            ),
            ("lookup by id p50", f"{p50 * 1e3:.2f} ms", f"scan {scan:.2f} s", f"{p50 / scan:.5f}x"),
            ("lookup by id p99", f"{p99 * 1e3:.2f} ms", f"scan {scan:.2f} s", f"{p99 / scan:.5f}x"),
            (
                "memory growth over 400 lookups",
                f"{rss_lookups:.1f} MB",
                f"data {size / 1e6:,.0f} MB",
                f"{rss_lookups * 1e6 / size:.4f}x",
            ),
            (
                "stats, first run (reads all)",
                f"{stats_cold:.2f} s",
                f"read all {raw:.2f} s",
                f"{stats_cold / raw:.2f}x",
            ),
            (
                "stats, later runs",
                f"{stats_warm:.2f} s",
                f"read all {raw:.2f} s",
                f"{stats_warm / raw:.2f}x",
            ),
            (
                "stats after reopen",
                f"{stats_reopened:.2f} s",
                f"read all {raw:.2f} s",
                f"{stats_reopened / raw:.2f}x",
            ),
            (
                f"filtered query ({hits:,} hits)",
                f"{query:.2f} s",
                f"read all {raw:.2f} s",
                f"{query / raw:.2f}x",
            ),
            (
                "peak RSS of this run",
                f"{_rss_mb():.0f} MB",
                f"data {size / 1e6:,.0f} MB",
                f"{_rss_mb() * 1e6 / size:.2f}x",
            ),
        ]
    )


def _bench_written(tmp: Path, n: int) -> None:
    data = tmp / "written"
    started = time.perf_counter()
    with JsonlStore(data) as store:
        for first in range(0, n, 10_000):
            its, fbs = _records(min(10_000, n - first), first)
            for k in range(0, len(its), BATCH // 2):
                store.write(its[k : k + BATCH // 2], fbs[k : k + BATCH // 2])
    wrote = time.perf_counter() - started
    size = sum(p.stat().st_size for p in data.iterdir())
    print(
        f"\nwritten through the store: {n:,} + {n:,} records, {size / 1e6:,.0f} MB "
        f"({wrote:.1f} s; indexes and statistics kept while writing)"
    )
    raw = min(_read_everything(data) for _ in range(2))
    started = time.perf_counter()
    store = JsonlStore(data)
    opened = time.perf_counter() - started
    rng = random.Random(9)
    picks = [f"{k + 1:032x}-{k + 1:016x}" for k in rng.sample(range(n), 200)]
    times = []
    for rid in picks:
        t = time.perf_counter()
        assert store.get_interaction(rid) is not None
        times.append(time.perf_counter() - t)
    started = time.perf_counter()
    stats = store_stats(store, None, datetime(2030, 1, 1, tzinfo=timezone.utc))
    first_stats = time.perf_counter() - started
    assert (stats.total_interactions, stats.total_feedback) == (n, n)
    store.close()
    _table(
        [
            ("open", f"{opened * 1e3:.1f} ms", f"read all {raw:.2f} s", f"{opened / raw:.4f}x"),
            (
                "first lookup after open",
                f"{times[0] * 1e3:.2f} ms",
                f"read all {raw:.2f} s",
                f"{times[0] / raw:.5f}x",
            ),
            (
                "lookup by id p99",
                f"{sorted(times)[-2] * 1e3:.2f} ms",
                f"read all {raw:.2f} s",
                f"{sorted(times)[-2] / raw:.5f}x",
            ),
            (
                "stats, first run after open",
                f"{first_stats:.2f} s",
                f"read all {raw:.2f} s",
                f"{first_stats / raw:.2f}x",
            ),
        ]
    )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
