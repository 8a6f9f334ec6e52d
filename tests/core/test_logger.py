"""The logger facade: read-your-writes, no silent loss, providers, fork, exit, close."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import (
    Feedback,
    FeedbackFilter,
    FeedbackType,
    Interaction,
    RLHFError,
    RLHFLogger,
    create_rlhf_logger,
)
from rlhf_otel.stores import MemoryStore


def test_reads_see_writes_with_batching_on(tracer_provider: TracerProvider) -> None:
    """With batching on and a long flush interval, a read right after a write sees it."""
    with create_rlhf_logger(
        backend="memory",
        batch_size=1000,
        batch_flush_interval=3600,
        tracer_provider=tracer_provider,
    ) as lg:
        iid = lg.log_interaction("q", "a")
        assert lg.get_interaction(iid) is not None
        lg.log_rating(iid, 5)
        assert lg.get_feedback_stats().total_feedback == 1
        assert len(lg.query_feedback(types=[FeedbackType.RATING])) == 1


def test_batching_off_writes_before_returning(tracer_provider: TracerProvider) -> None:
    """With batching off the record is in the store when log_interaction returns."""
    store = MemoryStore()
    with create_rlhf_logger(
        store=store, enable_batching=False, tracer_provider=tracer_provider
    ) as lg:
        iid = lg.log_interaction("q", "a")
        assert store.get_interaction(iid) is not None


def test_no_global_provider_is_set_unless_asked() -> None:
    """Without a provider the logger uses a private one and leaves the global provider alone."""
    before = trace.get_tracer_provider()
    with create_rlhf_logger(backend="memory") as lg:
        lg.log_interaction("q", "a")
        assert trace.get_tracer_provider() is before
        assert lg.tracer_provider is not before


def test_set_global_provider_when_asked_in_a_fresh_process() -> None:
    """set_global_tracer_provider=True installs the logger's provider as the global one."""
    code = textwrap.dedent(
        """
        from opentelemetry import trace
        import rlhf_otel
        lg = rlhf_otel.create_rlhf_logger(backend="memory", set_global_tracer_provider=True)
        print(trace.get_tracer_provider() is lg.tracer_provider)
        lg.close()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert out.stdout.strip() == "True"


def test_attaches_to_a_given_provider_and_leaves_it_running(
    tracer_provider: TracerProvider,
) -> None:
    """close() shuts our pipeline down but not the caller's provider."""
    lg = create_rlhf_logger(backend="memory", tracer_provider=tracer_provider)
    lg.log_interaction("q", "a")
    lg.close()
    with tracer_provider.get_tracer("t").start_as_current_span("still works") as span:
        assert span.is_recording()


def test_eight_threads_times_ten_thousand_lose_nothing(tracer_provider: TracerProvider) -> None:
    """80,000 records from 8 threads are all stored or counted as dropped (here: all stored)."""
    store = MemoryStore(max_entries=None)
    lg = create_rlhf_logger(store=store, max_queue_size=2_000, tracer_provider=tracer_provider)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for k in range(5_000):
                iid = lg.log_interaction(f"t{n} q{k}", "a")
                lg.log_binary_feedback(iid, k % 2 == 0)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lg.flush()
    delivery = lg.delivery()
    lg.close()
    assert errors == []
    assert delivery["accepted"] == 80_000
    assert delivery["stored"] + sum(delivery["dropped"].values()) == 80_000
    assert delivery["dropped"] == {}
    assert len(store) == 80_000


class FailingStore(MemoryStore):
    """A store whose writes fail, to show failures are counted, not hidden."""

    def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        raise OSError("disk on fire")


def test_store_failure_is_counted_never_raised(tracer_provider: TracerProvider) -> None:
    """A failing store never raises into the caller; every lost record is counted by reason."""
    with create_rlhf_logger(store=FailingStore(), tracer_provider=tracer_provider) as lg:
        for _ in range(10):
            lg.log_interaction("q", "a")
        lg.flush()
        assert lg.delivery()["dropped"] == {"store_error:OSError": 10}
        assert lg.delivery()["stored"] == 0


def test_memory_store_eviction_is_counted(tracer_provider: TracerProvider) -> None:
    """The memory store evicts the oldest past max_entries and the logger reports it."""
    with create_rlhf_logger(
        backend="memory", memory_max_entries=3, tracer_provider=tracer_provider
    ) as lg:
        ids = [lg.log_interaction("q", str(n)) for n in range(5)]
        assert lg.get_interaction(ids[0]) is None
        assert lg.get_interaction(ids[4]) is not None
        assert lg.delivery()["dropped"] == {"store:evicted_interaction": 2}


def test_closed_logger_refuses_to_log(tracer_provider: TracerProvider) -> None:
    """Logging after close() is a clear error, not a silent loss."""
    lg = create_rlhf_logger(backend="memory", tracer_provider=tracer_provider)
    lg.close()
    with pytest.raises(RLHFError, match="closed"):
        lg.log_interaction("q", "a")


def test_query_feedback_filters(logger: RLHFLogger) -> None:
    """Filters combine; min/max rating match only ratings; limit 0 returns nothing."""
    iid = logger.log_interaction("q", "a")
    for r in (2, 4, 5):
        logger.log_rating(iid, r, user_id="u1")
    logger.log_text_feedback(iid, "bad", "negative", user_id="u2")
    assert [f.data["rating"] for f in logger.query_feedback(min_rating=4)] == [4, 5]
    assert [f.data["rating"] for f in logger.query_feedback(max_rating=2)] == [2]
    assert len(logger.query_feedback(user_id="u2")) == 1
    assert len(logger.query_feedback(limit=0)) == 0
    assert [f.data["rating"] for f in logger.query_feedback(offset=1, limit=1)] == [4]
    flt = FeedbackFilter(types=[FeedbackType.TEXT], interaction_ids=[iid])
    assert [f.type for f in logger.query_feedback(flt)] == [FeedbackType.TEXT]


def test_fork_child_keeps_its_own_records_and_does_not_resend_parents(
    tmp_path: Path, tracer_provider: TracerProvider
) -> None:
    """After fork, the parent's queued spans are sent once (by the parent) and the child's by it."""
    written: list[tuple[int, str]] = []

    class RecordingStore(MemoryStore):
        def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
            out = tmp_path / f"written-{os.getpid()}.txt"
            with out.open("a") as fh:
                for it in interactions:
                    fh.write(it.prompt + "\n")
            super().write(interactions, feedback)

    lg = create_rlhf_logger(
        store=RecordingStore(),
        batch_size=1000,
        batch_flush_interval=3600,
        tracer_provider=tracer_provider,
    )
    lg.log_interaction("parent-before-fork", "a")
    pid = os.fork()
    if pid == 0:  # child
        try:
            lg.log_interaction("child", "a")
            ok = lg.flush(timeout=10)
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    lg.log_interaction("parent-after-fork", "a")
    assert lg.flush()
    lg.close()
    for path in tmp_path.glob("written-*.txt"):
        written.extend((int(path.stem.split("-")[1]), line) for line in path.read_text().split())
    assert sorted(line for _, line in written) == [
        "child",
        "parent-after-fork",
        "parent-before-fork",
    ]


def test_pending_records_flushed_at_interpreter_exit(tmp_path: Path) -> None:
    """Records still queued when the interpreter exits are exported (bounded wait)."""
    out = tmp_path / "out.txt"
    code = textwrap.dedent(
        f"""
        import rlhf_otel
        from rlhf_otel.stores import MemoryStore

        class FileStore(MemoryStore):
            def write(self, interactions, feedback):
                with open({str(out)!r}, "a") as fh:
                    fh.write(f"{{len(interactions)}} {{len(feedback)}}\\n")

        lg = rlhf_otel.create_rlhf_logger(store=FileStore(), batch_size=10_000,
                                          batch_flush_interval=3600)
        for _ in range(5):
            lg.log_rating(lg.log_interaction("q", "a"), 4)
        """
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, timeout=60, cwd=Path(__file__).parents[2]
    )
    totals = [tuple(map(int, line.split())) for line in out.read_text().splitlines()]
    assert (sum(t[0] for t in totals), sum(t[1] for t in totals)) == (5, 5)


def test_debug_logs_each_step(
    tracer_provider: TracerProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """debug=True logs the guide's debug messages on the rlhf_otel logger."""
    caplog.set_level("DEBUG", logger="rlhf_otel")
    with create_rlhf_logger(backend="memory", debug=True, tracer_provider=tracer_provider) as lg:
        iid = lg.log_interaction("q", "a")
        lg.log_binary_feedback(iid, True)
    messages = [r.getMessage().split(":")[0] for r in caplog.records]
    for expected in (
        "Started session",
        "RLHFLogger initialized",
        "Logged interaction",
        "Logged feedback",
        "Closing RLHFLogger",
    ):
        assert expected in messages


@pytest.mark.parametrize("backend", ["memory", "local"])
def test_purge_a_users_records(tmp_path: Path, backend: str) -> None:
    """purge(user_id=...) deletes that user's interactions and feedback and nothing else."""
    with create_rlhf_logger(
        backend=backend, data_dir=str(tmp_path / "d"), tracer_provider=TracerProvider()
    ) as lg:
        mine = lg.log_interaction("q", "a", user_id="leaver")
        lg.log_rating(mine, 4, user_id="leaver")
        other = lg.log_interaction("q", "a", user_id="stayer")
        lg.log_rating(other, 2, user_id="stayer")
        assert lg.purge(user_id="leaver") == 2
        assert lg.get_interaction(mine) is None
        assert lg.get_interaction(other) is not None
        assert [f.user_id for f in lg.query_feedback()] == ["stayer"]
        with pytest.raises(ValueError, match="purge needs before=<datetime> and/or user_id=<str>"):
            lg.purge()
