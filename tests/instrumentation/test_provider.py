"""The OpenAI instrumentation sets gen_ai.provider.name on its interaction spans."""

from __future__ import annotations

import openai
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rlhf_otel_instrumentation.openai import OpenAIInstrumentor

from tests.instrumentation.conftest import interaction_of, only_span


def test_instrumented_call_names_the_provider(
    instrumentor: OpenAIInstrumentor,
    openai_client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
) -> None:
    """A real chat call through the instrumentation: span attribute and record say openai."""
    openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
    span = only_span(span_exporter)
    assert (span.attributes or {}).get("gen_ai.provider.name") == "openai"
    assert interaction_of(span).provider == "openai"
