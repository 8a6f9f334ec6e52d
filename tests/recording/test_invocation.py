"""An LLMCall is the call's invocation object: data set on it, stop(), fail(), with."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from rlhf_otel.pipeline import RecordQueue
from rlhf_otel.recording import RecordingHandler, ResponseInfo
from rlhf_otel.records import TokenUsage
from rlhf_otel.stores import MemoryStore


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(max_entries=None)


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def handler(store: MemoryStore, span_exporter: InMemorySpanExporter) -> RecordingHandler:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    return RecordingHandler(provider.get_tracer("t"), queue=RecordQueue(store, batching=False))


MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]


def test_with_form_stops_with_the_data_set_on_the_call(
    handler: RecordingHandler, store: MemoryStore
) -> None:
    """Data set on the call inside ``with`` is what the stored record says."""
    with handler.start(model="gpt-4o-mini", provider="openai") as call:
        call.messages = MESSAGES
        call.params = {"temperature": 0.5}
        call.user_id = "u1"
        call.response = ResponseInfo(text="Hello.", usage=TokenUsage(3, 2))
    (record,) = store.scan_interactions()
    assert (record.id, record.prompt, record.response, record.user_id) == (
        call.interaction_id,
        "Hi?",
        "Hello.",
        "u1",
    )
    assert list(record.context) == [{"role": "system", "content": "Be brief."}]
    assert dict(record.model_params) == {"temperature": 0.5}
    assert record.token_usage == TokenUsage(3, 2, 5)


def test_with_form_fails_on_an_exception_and_lets_it_through(
    handler: RecordingHandler, store: MemoryStore, span_exporter: InMemorySpanExporter
) -> None:
    """An exception inside ``with`` fails the call (error.type, status ERROR) and goes on."""

    def ask() -> None:
        with handler.start(model="m") as call:
            call.messages = MESSAGES
            raise TimeoutError("slow")

    with pytest.raises(TimeoutError):
        ask()
    (record,) = store.scan_interactions()
    assert (record.prompt, record.error_type) == ("Hi?", "TimeoutError")
    (span,) = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR


def test_stop_and_fail_on_the_call_end_it_once(
    handler: RecordingHandler, store: MemoryStore
) -> None:
    """call.stop() ends the call; a later fail() or stop() changes nothing."""
    call = handler.start(model="m")
    assert call.stop(ResponseInfo(text="first")) == call.interaction_id
    call.fail(ValueError("late"))
    call.stop(ResponseInfo(text="second"))
    (record,) = store.scan_interactions()
    assert (record.response, record.error_type) == ("first", None)
