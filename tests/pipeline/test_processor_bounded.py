"""A store whose write hangs: flush, close and interpreter exit stay bounded, nothing unaccounted."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import Feedback, Interaction, RLHFLogger, create_rlhf_logger
from rlhf_otel.stores import MemoryStore
from tests.guards import HANG_GUARD_S, returns

ROOT = Path(__file__).resolve().parents[2]


class GatedStore(MemoryStore):
    """A memory store whose write() blocks until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__(max_entries=None)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.closed = threading.Event()

    def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        self.entered.set()
        self.gate.wait()
        super().write(interactions, feedback)

    def close(self) -> None:
        self.closed.set()
        super().close()


def _balanced(d: dict[str, Any]) -> bool:
    """accepted == stored + pending + in_flight + sampled_out + dropped."""
    total = d["stored"] + d["pending"] + d["in_flight"] + d["sampled_out"]
    return bool(d["accepted"] == total + sum(d["dropped"].values()))


@pytest.fixture
def gated() -> Iterator[GatedStore]:
    store = GatedStore()
    yield store
    store.gate.set()


@pytest.fixture
def stuck_logger(gated: GatedStore) -> Iterator[RLHFLogger]:
    """A logger whose export thread is stuck in a write of 10 records, 5 more queued."""
    lg = create_rlhf_logger(
        store=gated, batch_size=10, export_timeout=1.0, tracer_provider=TracerProvider()
    )
    for i in range(10):
        lg.log_interaction(f"q{i}", "a")
    assert gated.entered.wait(5)
    for i in range(5):
        lg.log_interaction(f"late{i}", "a")
    yield lg
    gated.gate.set()
    lg.close()


def test_delivery_counts_records_inside_a_stuck_write(stuck_logger: RLHFLogger) -> None:
    """Records inside the hanging write are in_flight; the counts add up."""
    d = stuck_logger.delivery()
    assert (d["accepted"], d["stored"], d["pending"], d["in_flight"], d["dropped"]) == (
        15,
        0,
        5,
        10,
        {},
    )
    assert _balanced(d)


def test_flush_returns_false_in_time(stuck_logger: RLHFLogger) -> None:
    """flush() gives up after its timeout and says so (the store never returns)."""
    assert returns(lambda: stuck_logger.flush(timeout=0.3)) is False
    assert _balanced(stuck_logger.delivery())


def test_close_is_bounded_by_export_timeout(stuck_logger: RLHFLogger, gated: GatedStore) -> None:
    """close() returns within export_timeout; queued records are counted, the store closes
    once the stuck write returns, and the counts add up at every step."""
    returns(stuck_logger.close)  # the store's write never returns by itself
    d = stuck_logger.delivery()
    assert (d["stored"], d["pending"], d["in_flight"], d["dropped"]) == (
        0,
        0,
        10,
        {"shutdown_timeout": 5},
    )
    assert _balanced(d)
    assert not gated.closed.is_set()
    gated.gate.set()
    assert gated.closed.wait(5)
    d = stuck_logger.delivery()
    assert (d["stored"], d["in_flight"]) == (10, 0)
    assert _balanced(d)
    assert len(list(gated.scan_interactions())) == 10


def test_counts_add_up_while_records_move(gated: GatedStore) -> None:
    """Sampled from another thread while queued records are exported batch by batch,
    delivery() always balances (records move between the counts in one step)."""
    lg = create_rlhf_logger(store=gated, batch_size=5, tracer_provider=TracerProvider())
    for i in range(3000):
        lg.log_interaction(f"q{i}", "a")
    assert gated.entered.wait(5)
    seen: list[bool] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(_balanced(lg.delivery()))

    watcher = threading.Thread(target=watch)
    watcher.start()
    gated.gate.set()
    assert lg.flush(timeout=10)
    stop.set()
    watcher.join()
    lg.close()
    assert len(seen) > 10
    assert seen.count(False) == 0
    assert lg.delivery()["stored"] == 3000


_CHILD = """
import threading, time, sys
from opentelemetry.sdk.trace import TracerProvider
from rlhf_otel import create_rlhf_logger
from rlhf_otel.stores import MemoryStore

class Stuck(MemoryStore):
    def write(self, interactions, feedback):
        threading.Event().wait()          # never returns

lg = create_rlhf_logger(store=Stuck(), batch_size=5, export_timeout=1.0,
                        tracer_provider=TracerProvider())
for i in range(12):
    lg.log_interaction("q", "a")
time.sleep(0.2)
if sys.argv[1] == "close":
    lg.close()
    print("closed", flush=True)
print("exiting", flush=True)
"""


@pytest.mark.parametrize("how", ["close", "exit"])
def test_interpreter_exit_is_bounded(how: str) -> None:
    """With a store that never returns, close() gives up (export_timeout) and the process
    exits; without close(), exit gives up too (its documented bound): the child ends by
    itself, well within a hang guard."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CHILD), how],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=HANG_GUARD_S)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0
    assert out.splitlines() == (["closed", "exiting"] if how == "close" else ["exiting"])
