"""Back-pressure: a slow or failing store gets 429/503, and nothing accepted is lost."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from rlhf_otel import StoreError, ValidationError
from rlhf_otel.receiver import OTLPReceiver, ReceiverConfig
from rlhf_otel.records import Feedback, Interaction
from rlhf_otel.stores import MemoryStore
from tests.collector._app import log_interaction
from tests.collector._bodies import partial_success, post, protobuf_body
from tests.collector.conftest import wait_for


class GatedStore(MemoryStore):
    """A memory store whose writes wait for a gate (a backend that has stalled)."""

    def __init__(self) -> None:
        super().__init__(max_entries=None)
        self.gate = threading.Event()
        self.writes_started = 0

    def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        self.writes_started += 1
        self.gate.wait(10)
        super().write(interactions, feedback)


class FlakyStore(MemoryStore):
    """A memory store whose first ``failures`` writes raise (a backend that is down)."""

    def __init__(self, failures: int) -> None:
        super().__init__(max_entries=None)
        self.failures = failures

    def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreError("backend unreachable")
        super().write(interactions, feedback)


class PickyStore(MemoryStore):
    """A memory store that refuses one interaction as invalid."""

    def __init__(self, refused: str) -> None:
        super().__init__(max_entries=None)
        self.refused = refused

    def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        if any(it.prompt == self.refused for it in interactions):
            raise ValidationError(f"prompt {self.refused!r} is not allowed")
        super().write(interactions, feedback)


def _bodies(count: int, per_body: int) -> list[bytes]:
    return [
        protobuf_body(
            lambda t, b=b: [log_interaction(t, b * per_body + i) for i in range(per_body)]
        )
        for b in range(count)
    ]


def test_flood_gets_429_and_loses_no_accepted_record() -> None:
    """With the store stalled, requests past the bound get 429 and Retry-After; 200s are stored."""
    store = GatedStore()
    config = ReceiverConfig(port=0, max_pending_records=12, retry_after=2, ack_timeout=30)
    bodies = _bodies(12, 4)
    with OTLPReceiver(store, config) as rx:
        first = threading.Thread(target=post, args=(rx.endpoint, bodies[0]))
        first.start()
        wait_for(lambda: store.writes_started == 1)
        with ThreadPoolExecutor(max_workers=11) as pool:
            futures = [pool.submit(post, rx.endpoint, body) for body in bodies[1:]]
            wait_for(lambda: rx.stats().responses.get(429, 0) == 9)
            store.gate.set()
            responses = [f.result() for f in futures]
        first.join()
        statuses = sorted(r.status_code for r in responses)
        # In flight (4) plus two queued batches (8) fill the bound of 12.
        assert statuses == [200, 200] + [429] * 9
        assert {r.headers["retry-after"] for r in responses if r.status_code == 429} == {"2"}
        assert len(store) == 12
        for body, response in zip(bodies[1:], responses, strict=True):
            if response.status_code == 429:
                assert post(rx.endpoint, body).status_code == 200
        stats = rx.stats()
    assert len(store) == 48
    assert stats.interactions_stored == 48
    assert stats.pending_records == 0


def test_stalled_write_times_out_as_503_and_is_withdrawn() -> None:
    """A request still queued at ack_timeout gets 503 and its records are never written."""
    store = GatedStore()
    with OTLPReceiver(store, ReceiverConfig(port=0, ack_timeout=0.3)) as rx:
        bodies = _bodies(2, 2)
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(post, rx.endpoint, bodies[0])
            wait_for(lambda: store.writes_started == 1)
            second = post(rx.endpoint, bodies[1])
            assert second.status_code == 503
            assert second.headers["retry-after"] == "1"
            store.gate.set()
            assert first.result().status_code == 200
        wait_for(lambda: rx.stats().pending_records == 0)
    assert len(store) == 2
    assert store.writes_started == 1


def test_failing_store_gets_503_then_recovers() -> None:
    """A store write that raises (and its one retry) answers 503; after Retry-After it is stored."""
    store = FlakyStore(failures=2)
    body = _bodies(1, 3)[0]
    with OTLPReceiver(store, ReceiverConfig(port=0, retry_after=1)) as rx:
        failed = post(rx.endpoint, body)
        assert failed.status_code == 503
        assert failed.headers["retry-after"] == "1"
        assert post(rx.endpoint, body).status_code == 503
        wait_for(lambda: post(rx.endpoint, body).status_code == 200, timeout=5)
    assert len(store) == 3


def test_record_the_store_refuses_is_a_partial_success() -> None:
    """A record the store rejects as invalid is reported as rejected; the others are stored."""
    store = PickyStore(refused="question 1: what is 1 squared?")
    with OTLPReceiver(store, ReceiverConfig(port=0)) as rx:
        response = post(rx.endpoint, _bodies(1, 3)[0])
    assert response.status_code == 200
    rejected, message = partial_success(response)
    assert rejected == 1
    assert "store refused record" in message
    assert "is not allowed" in message
    assert sorted(it.prompt for it in store.scan_interactions()) == [
        "question 0: what is 0 squared?",
        "question 2: what is 2 squared?",
    ]


def test_too_many_concurrent_requests_get_503() -> None:
    """Past max_concurrent_requests a request is refused at once with 503 and Retry-After."""
    store = GatedStore()
    with OTLPReceiver(store, ReceiverConfig(port=0, max_concurrent_requests=1)) as rx:
        bodies = _bodies(2, 1)
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(post, rx.endpoint, bodies[0])
            wait_for(lambda: store.writes_started == 1)
            with httpx.Client() as other:
                refused = other.post(
                    rx.endpoint,
                    content=bodies[1],
                    headers={"Content-Type": "application/x-protobuf"},
                )
            store.gate.set()
            assert first.result().status_code == 200
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert len(store) == 1


def test_shutdown_writes_what_is_queued() -> None:
    """Stopping the receiver waits for queued batches; their requests are answered 200."""
    store = GatedStore()
    rx = OTLPReceiver(store, ReceiverConfig(port=0)).start()
    bodies = _bodies(3, 2)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(post, rx.endpoint, body) for body in bodies]
        wait_for(lambda: rx.stats().pending_records == 6)
        stopper = threading.Thread(target=rx.shutdown)
        stopper.start()
        store.gate.set()
        stopper.join(10)
        assert [f.result().status_code for f in futures] == [200, 200, 200]
    assert len(store) == 6
