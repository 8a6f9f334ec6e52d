"""Fixtures of the collector tests: a store, a receiver on a free loopback port."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from rlhf_otel.receiver import OTLPReceiver, ReceiverConfig
from rlhf_otel.stores import MemoryStore


@pytest.fixture
def store() -> MemoryStore:
    """An unbounded in-memory store."""
    return MemoryStore(max_entries=None)


@pytest.fixture
def receiver(store: MemoryStore) -> Iterator[OTLPReceiver]:
    """``rlhf-otel collect``'s receiver on 127.0.0.1, writing to ``store``."""
    with OTLPReceiver(store, ReceiverConfig(port=0)) as rx:
        yield rx


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll until ``predicate()`` holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)
