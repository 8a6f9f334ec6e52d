"""``collect`` decodes spans of other instrumentations through the dialect layer and counts
the ones that hold no interaction, by reason, in its stats."""

from __future__ import annotations

import json

from opentelemetry.trace import Tracer

from rlhf_otel.receiver import OTLPReceiver
from rlhf_otel.stores import MemoryStore
from tests.collector._bodies import (
    JSON,
    finished_spans,
    json_document,
    post,
    protobuf_body,
    request_of,
)


def _openinference_call(tracer: Tracer) -> None:
    with tracer.start_as_current_span("ChatCompletion") as span:
        span.set_attributes(
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "Hi",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "Hello!",
                "llm.token_count.prompt": 3,
                "llm.token_count.completion": 2,
            }
        )
    with tracer.start_as_current_span("retrieve") as span:
        span.set_attributes({"openinference.span.kind": "RETRIEVER", "input.value": "q"})
    with tracer.start_as_current_span("GET /") as span:
        span.set_attribute("http.request.method", "GET")


def test_openinference_spans_are_stored_and_skips_counted(
    receiver: OTLPReceiver, store: MemoryStore
) -> None:
    """An LLM span is stored; a retriever is counted as skipped; an HTTP span ignored."""
    response = post(receiver.endpoint, protobuf_body(_openinference_call))
    assert response.status_code == 200
    (it,) = store.scan_interactions()
    assert (it.prompt, it.response, it.model, it.provider) == (
        "Hi",
        "Hello!",
        "gpt-4o-mini",
        "openai",
    )
    stats = receiver.stats()
    assert (stats.spans_received, stats.spans_ignored, stats.interactions_stored) == (3, 1, 1)
    assert stats.spans_skipped == {"openinference:retriever": 1}


def test_otlp_json_of_a_foreign_span_is_stored(receiver: OTLPReceiver, store: MemoryStore) -> None:
    """The same span as OTLP/JSON gives the same record."""
    doc = json_document(request_of(finished_spans(_openinference_call)))
    response = post(receiver.endpoint, json.dumps(doc).encode(), JSON)
    assert response.status_code == 200
    (it,) = store.scan_interactions()
    assert (it.prompt, it.response) == ("Hi", "Hello!")
