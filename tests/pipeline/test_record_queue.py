"""The record queue: our records go to the store directly, once, off the caller's thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from rlhf_otel import Feedback, Interaction, RLHFLogger, create_rlhf_logger, trace_llm
from rlhf_otel import attributes as A
from rlhf_otel.pipeline import RecordQueue, RLHFSpanExporter
from rlhf_otel.recording import RecordingHandler, ResponseInfo
from rlhf_otel.stores import MemoryStore


class ThreadNotingStore(MemoryStore):
    """A memory store that notes which thread each write ran on."""

    def __init__(self) -> None:
        super().__init__(max_entries=None)
        self.writers: list[int] = []

    def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        self.writers.append(threading.get_ident())
        super().write(interactions, feedback)


class FlakyStore(MemoryStore):
    """A memory store whose first ``failures`` writes raise (storing nothing)."""

    def __init__(self, failures: int) -> None:
        super().__init__(max_entries=None)
        self.failures = failures
        self.calls = 0

    def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError("not yet")
        super().write(interactions, feedback)


@pytest.fixture
def provider() -> TracerProvider:
    return TracerProvider()


@pytest.fixture
def noted() -> ThreadNotingStore:
    return ThreadNotingStore()


@pytest.fixture
def logger(provider: TracerProvider, noted: ThreadNotingStore) -> Iterator[RLHFLogger]:
    lg = create_rlhf_logger(store=noted, tracer_provider=provider, batch_size=1)
    yield lg
    lg.close()


def _everything_stored(lg: RLHFLogger) -> tuple[int, int, dict[str, int]]:
    d = lg.delivery()
    return d["accepted"], d["stored"], d["dropped"]


@pytest.mark.parametrize("processor", ["simple", "batch"])
def test_our_span_reaching_an_rlhf_exporter_is_stored_once(
    provider: TracerProvider, noted: ThreadNotingStore, logger: RLHFLogger, processor: str
) -> None:
    """A span whose record the logger's queue took is skipped by an RLHFSpanExporter on the
    same provider (even one writing into the same store, from another thread)."""
    exporter = RLHFSpanExporter(noted)
    wrap = SimpleSpanProcessor if processor == "simple" else BatchSpanProcessor
    provider.add_span_processor(wrap(exporter))
    iid = logger.log_interaction("q", "a")
    logger.log_rating(iid, 4)
    assert logger.flush()
    provider.force_flush()
    assert len(list(noted.scan_interactions())) == 1
    assert len(list(noted.scan_feedback())) == 1
    assert exporter.stored == 0
    assert _everything_stored(logger) == (2, 2, {})


def test_a_span_marked_by_another_process_is_decoded() -> None:
    """A span naming a record queue that is not one of this process's (it came over OTLP)
    is decoded and stored by an RLHFSpanExporter."""
    store = MemoryStore(max_entries=None)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RLHFSpanExporter(store)))
    span = provider.get_tracer("t").start_span(
        "chat m",
        kind=SpanKind.CLIENT,
        attributes={
            A.GEN_AI_OPERATION_NAME: "chat",
            A.RLHF_RECORD_KIND: A.RECORD_KIND_INTERACTION,
            A.RLHF_RECORD_QUEUE: "0123456789abcdef",
            A.GEN_AI_REQUEST_MODEL: "m",
        },
    )
    span.end()
    (stored,) = store.scan_interactions()
    assert stored.model == "m"


def test_a_handler_without_queue_leaves_its_span_to_the_exporter() -> None:
    """Spans of a handler with no record queue carry no mark and are stored by decoding."""
    store = MemoryStore(max_entries=None)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RLHFSpanExporter(store)))
    handler = RecordingHandler(provider.get_tracer("t"))
    with handler.start(model="m") as call:
        call.response = ResponseInfo(text="hello")
    (stored,) = store.scan_interactions()
    assert (stored.id, stored.response) == (call.interaction_id, "hello")


def test_the_store_write_runs_off_the_callers_thread(
    logger: RLHFLogger, noted: ThreadNotingStore
) -> None:
    """With batching (the default) the producer's thread never writes to the store."""
    for i in range(20):
        logger.log_interaction(f"q{i}", "a")
    assert logger.flush()
    assert len(noted.writers) >= 1
    assert threading.get_ident() not in noted.writers
    assert _everything_stored(logger) == (20, 20, {})


def test_a_store_write_never_runs_under_the_open_spans_lock(provider: TracerProvider) -> None:
    """While one logger's store writes (unbatched, on the ending call's thread), another
    logger on another thread can still end its calls and log feedback on its open span:
    no process-wide lock is held during a store write."""
    other_store = MemoryStore(max_entries=None)
    other = create_rlhf_logger(store=other_store, tracer_provider=TracerProvider())
    other_call = other.recording.start(model="m")
    finished: list[bool] = []

    def use_other_logger() -> None:
        other.log_rating(other_call.interaction_id, 5)  # an event on the open span
        other_call.stop(ResponseInfo(text="done"))

    class ReentrantStore(MemoryStore):
        def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
            super().write(interactions, feedback)
            if interactions and not finished:
                worker = threading.Thread(target=use_other_logger)
                worker.start()
                worker.join(timeout=30)
                finished.append(not worker.is_alive())

    lg = create_rlhf_logger(
        store=ReentrantStore(max_entries=None), tracer_provider=provider, enable_batching=False
    )

    @trace_llm(model="m", logger=lg)
    def ask(prompt: str) -> str:
        return "answer"

    ask("q")
    lg.close()
    other.close()
    assert finished == [True]
    assert (len(list(other_store.scan_interactions())), len(list(other_store.scan_feedback()))) == (
        1,
        1,
    )


def test_spans_of_other_libraries_are_counted_on_the_queue(
    provider: TracerProvider, logger: RLHFLogger, noted: ThreadNotingStore
) -> None:
    """A GenAI span another library made on the logger's provider becomes a record on the
    logger's queue, counted like ours."""
    span = provider.get_tracer("other-lib").start_span(
        "chat x", kind=SpanKind.CLIENT, attributes={A.GEN_AI_OPERATION_NAME: "chat"}
    )
    span.end()
    assert logger.flush()
    assert len(list(noted.scan_interactions())) == 1
    assert _everything_stored(logger) == (1, 1, {})


def test_a_failed_store_write_is_retried() -> None:
    """A write that raises (stored nothing) is tried again; nothing is lost or counted."""
    store = FlakyStore(failures=2)
    queue = RecordQueue(store, batching=False)
    handler = RecordingHandler(TracerProvider().get_tracer("t"), queue=queue)
    handler.stop(handler.start(model="m"), ResponseInfo(text="a"))
    queue.shutdown()
    assert store.calls == 3
    d = queue.delivery()
    assert (d["accepted"], d["stored"], d["dropped"]) == (1, 1, {})
