"""Fixtures: a local OpenAI-compatible server, an in-memory tracer provider, real clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rlhf_otel_instrumentation.openai import OpenAIInstrumentor

from rlhf_otel.recording import records_from_span
from rlhf_otel.records import Interaction
from tests.servers.openai_server import OpenAIServer


@pytest.fixture(scope="session")
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer(slow_seconds=0.4) as server:
        yield server


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def instrumentor(tracer_provider: TracerProvider) -> Iterator[OpenAIInstrumentor]:
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=tracer_provider)
    yield inst
    inst.uninstrument()


@pytest.fixture
def openai_client(openai_server: OpenAIServer) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=openai_server.base_url, api_key="test-key", max_retries=0)
    yield client
    client.close()


@pytest.fixture
async def async_openai_client(openai_server: OpenAIServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=openai_server.base_url, api_key="test-key", max_retries=0)
    yield client
    await client.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    """The one finished span (fails if there are more or none)."""
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def interaction_of(span: ReadableSpan) -> Interaction:
    """The interaction record the core reads out of ``span``."""
    interaction, feedback = records_from_span(span)
    assert interaction is not None
    assert feedback == []
    return interaction


def summary(it: Interaction) -> dict[str, Any]:
    """The fields of a record that do not depend on timing or ids."""
    return {
        "prompt": it.prompt,
        "response": it.response,
        "model": it.model,
        "provider": it.provider,
        "model_params": dict(it.model_params),
        "token_usage": it.token_usage,
        "context": list(it.context),
        "response_id": it.response_id,
        "finish_reasons": tuple(it.finish_reasons),
        "error_type": it.error_type,
        "user_id": it.user_id,
    }
