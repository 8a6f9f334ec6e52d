"""Fixtures shared by every test: an explicit in-memory tracer provider per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rlhf_otel import RLHFLogger, create_rlhf_logger
from rlhf_otel.stores import MemoryStore


@pytest.fixture
def tracer_provider() -> Iterator[TracerProvider]:
    provider = TracerProvider()
    yield provider
    provider.shutdown()


@pytest.fixture
def span_exporter(tracer_provider: TracerProvider) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(max_entries=None)


@pytest.fixture
def logger(tracer_provider: TracerProvider, store: MemoryStore) -> Iterator[RLHFLogger]:
    lg = create_rlhf_logger(store=store, tracer_provider=tracer_provider)
    yield lg
    lg.close()
