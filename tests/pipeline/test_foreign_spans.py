"""Spans of other instrumentations reaching a logger's exporter go through the dialect
layer: interactions are stored, spans with no interaction are counted in delivery()."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import RLHFLogger


def test_foreign_spans_stored_and_skips_in_delivery(
    logger: RLHFLogger, tracer_provider: TracerProvider
) -> None:
    """An OpenInference LLM span is stored; an embedding span is counted by reason."""
    tracer = tracer_provider.get_tracer("openinference.instrumentation.openai")
    with tracer.start_as_current_span("ChatCompletion") as span:
        span.set_attributes(
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "Hi",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "Hello!",
            }
        )
        trace_id, span_id = span.get_span_context().trace_id, span.get_span_context().span_id
    with tracer.start_as_current_span("CreateEmbeddings") as span:
        span.set_attributes({"openinference.span.kind": "EMBEDDING", "llm.model_name": "e-3"})
    it = logger.get_interaction(f"{trace_id:032x}-{span_id:016x}")
    assert it is not None
    assert (it.prompt, it.response, it.provider) == ("Hi", "Hello!", "openai")
    assert logger.delivery()["foreign_skipped"] == {"openinference:embedding": 1}
