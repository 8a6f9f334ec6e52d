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


def test_feedback_on_a_held_trace_waits_and_lands(
    logger: RLHFLogger, tracer_provider: TracerProvider
) -> None:
    """Feedback on the app's span while its trace is held is counted as held, then lands on
    the interaction once the trace settles."""
    tracer = tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("POST /chat") as app:
        with tracer.start_as_current_span("chat gpt-4o-mini") as llm:
            llm.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.input.messages": '[{"role": "user", "content": "Hi"}]',
                    "gen_ai.output.messages": '[{"role": "assistant", "content": "Hello!"}]',
                }
            )
            llm_ctx = llm.get_span_context()
        ctx = app.get_span_context()
        logger.log_rating(f"{ctx.trace_id:032x}-{ctx.span_id:016x}", 4, user_id="u1")
        during = logger.delivery()
    interaction_id = f"{llm_ctx.trace_id:032x}-{llm_ctx.span_id:016x}"
    it = logger.get_interaction(interaction_id)
    assert it is not None
    assert (during["held"], during["foreign_held"]) == (1, 1)
    after = logger.delivery()
    assert (after["held"], after["foreign_held"], after["stored"]) == (0, 0, 2)
    (fb,) = logger.store.scan_feedback()
    assert fb.interaction_id == interaction_id
