"""The trace assembler: logs joined to spans whichever comes first, one interaction per
answer (outermost span, inner calls as steps), feedback on the trace, counted give-ups."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rlhf_otel.recording import EventView, TraceAssembler, decode_span, is_foreign
from rlhf_otel.records import BinaryFeedback, Feedback, FeedbackType, Interaction, TokenUsage


class Clock:
    """A clock the test moves by hand (no waiting)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _decode(span: Any, joined: Sequence[EventView]) -> tuple[Interaction | None, str | None]:
    found = decode_span(span, joined=joined)
    return found.interaction, found.kind


def _assembler(clock: Clock) -> TraceAssembler:
    asm = TraceAssembler(_decode, content_wait=5.0, trace_wait=30.0, clock=clock)
    asm.expect_logs = True  # as when a logs exporter is attached
    return asm


def _spans(tracer_provider: TracerProvider) -> tuple[Any, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider.get_tracer("test"), exporter


def _feed(asm: TraceAssembler, spans: Sequence[ReadableSpan]) -> list[Interaction]:
    return asm.spans([(s, is_foreign(s)) for s in spans]).interactions


_DETAILS = "gen_ai.client.inference.operation.details"


def _details() -> EventView:
    return EventView(
        _DETAILS,
        {
            "gen_ai.input.messages": (
                {"role": "user", "parts": ({"type": "text", "content": "Hi"},)},
            ),
            "gen_ai.output.messages": (
                {"role": "assistant", "parts": ({"type": "text", "content": "Hello!"},)},
            ),
        },
    )


def _event_only_span(tracer_provider: TracerProvider) -> ReadableSpan:
    tracer, exporter = _spans(tracer_provider)
    with tracer.start_as_current_span("chat gpt-4o-mini") as span:
        span.set_attributes(
            {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}
        )
    (finished,) = exporter.get_finished_spans()
    return finished


def test_logs_after_span_fill_the_record(tracer_provider: TracerProvider) -> None:
    """A span without content waits; its log record arriving later completes it."""
    clock = Clock()
    asm = _assembler(clock)
    span = _event_only_span(tracer_provider)
    assert _feed(asm, [span]) == []
    ctx = span.get_span_context()
    (it,) = asm.logs([(ctx.trace_id, ctx.span_id, _details())]).interactions
    assert (it.prompt, it.response, it.model) == ("Hi", "Hello!", "gpt-4o-mini")
    assert asm.gave_up.snapshot() == {}


def test_logs_before_span_fill_the_record(tracer_provider: TracerProvider) -> None:
    """A log record arriving first waits for its span, which then settles at once."""
    clock = Clock()
    asm = _assembler(clock)
    span = _event_only_span(tracer_provider)
    ctx = span.get_span_context()
    assert asm.logs([(ctx.trace_id, ctx.span_id, _details())]).interactions == []
    (it,) = _feed(asm, [span])
    assert (it.prompt, it.response) == ("Hi", "Hello!")
    assert asm.pending == 0


def test_missing_logs_give_up_is_counted(tracer_provider: TracerProvider) -> None:
    """No log record within the wait: stored as it is, and the give-up is counted."""
    clock = Clock()
    asm = _assembler(clock)
    assert _feed(asm, [_event_only_span(tracer_provider)]) == []
    clock.now = 4.0
    assert asm.expire().interactions == []
    clock.now = 5.5
    (it,) = asm.expire().interactions
    assert (it.prompt, it.response) == ("", "")
    assert asm.gave_up.snapshot() == {"content_logs_missing": 1}


def test_without_a_logs_exporter_nothing_waits(tracer_provider: TracerProvider) -> None:
    """With no logs exporter attached, a span without content settles at once."""
    asm = TraceAssembler(_decode, clock=Clock())
    (it,) = _feed(asm, [_event_only_span(tracer_provider)])
    assert (it.prompt, it.response, it.model) == ("", "", "gpt-4o-mini")
    assert asm.gave_up.snapshot() == {}


def test_logs_without_span_are_counted() -> None:
    """Log records whose span never comes are counted once the trace wait is over."""
    clock = Clock()
    asm = _assembler(clock)
    asm.logs([(7, 9, _details())])
    clock.now = 31.0
    assert asm.expire().interactions == []
    assert asm.gave_up.snapshot() == {"logs_without_span": 1}


def test_agent_trace_is_one_interaction_with_steps(tracer_provider: TracerProvider) -> None:
    """An OpenInference AGENT span with two LLM calls inside is one interaction, two steps."""
    tracer, exporter = _spans(tracer_provider)
    with tracer.start_as_current_span("agent") as agent:
        agent.set_attributes(
            {
                "openinference.span.kind": "AGENT",
                "input.value": "Weather in Paris?",
                "output.value": "Sunny in Paris.",
            }
        )
        for i, answer in enumerate(("", "Sunny in Paris.")):
            with tracer.start_as_current_span("llm") as llm:
                llm.set_attributes(
                    {
                        "openinference.span.kind": "LLM",
                        "llm.model_name": "gpt-4o-mini",
                        "llm.input_messages.0.message.role": "user",
                        "llm.input_messages.0.message.content": "Weather in Paris?",
                        "llm.output_messages.0.message.role": "assistant",
                        "llm.output_messages.0.message.content": answer,
                        "llm.token_count.prompt": 10 + i,
                        "llm.token_count.completion": 5,
                        "llm.token_count.total": 15 + i,
                    }
                )
    spans = exporter.get_finished_spans()
    asm = _assembler(Clock())
    (it,) = _feed(asm, spans)
    agent_ctx = spans[-1].get_span_context()
    assert it.id == f"{agent_ctx.trace_id:032x}-{agent_ctx.span_id:016x}"
    assert (it.prompt, it.response, it.model, it.provider) == (
        "Weather in Paris?",
        "Sunny in Paris.",
        "gpt-4o-mini",
        "openai",
    )
    assert it.token_usage == TokenUsage(21, 10, 31)
    assert [s["response"] for s in it.metadata["steps"]] == ["", "Sunny in Paris."]


def test_two_instrumentations_on_one_call_give_one_record(
    tracer_provider: TracerProvider,
) -> None:
    """An LLM span inside another LLM span (two instrumentations): one record, filled in."""
    tracer, exporter = _spans(tracer_provider)
    with tracer.start_as_current_span("chat gpt-4o-mini") as outer:
        outer.set_attributes(
            {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}
        )
        with tracer.start_as_current_span("ChatCompletion") as inner:
            inner.set_attributes(
                {
                    "openinference.span.kind": "LLM",
                    "llm.model_name": "gpt-4o-mini",
                    "llm.input_messages.0.message.role": "user",
                    "llm.input_messages.0.message.content": "Hi",
                    "llm.output_messages.0.message.role": "assistant",
                    "llm.output_messages.0.message.content": "Hello!",
                }
            )
    spans = exporter.get_finished_spans()
    asm = _assembler(Clock())
    assert _feed(asm, spans[:1]) == []
    (it,) = _feed(asm, spans[1:])
    assert it.span_id == f"{spans[1].get_span_context().span_id:016x}"
    assert (it.prompt, it.response) == ("Hi", "Hello!")
    assert len(it.metadata["steps"]) == 1


def _fb(interaction_id: str) -> Feedback:
    return Feedback(
        id="fb-1",
        interaction_id=interaction_id,
        type=FeedbackType.BINARY,
        data={"value": BinaryFeedback.THUMBS_UP.value},
        timestamp=datetime.now(timezone.utc),
    )


def test_feedback_on_the_trace_or_app_span_lands(tracer_provider: TracerProvider) -> None:
    """Feedback naming the trace id, or the app's own span, moves onto the interaction."""
    tracer, exporter = _spans(tracer_provider)
    with tracer.start_as_current_span("POST /chat") as app:
        app_ctx = app.get_span_context()
        with tracer.start_as_current_span("chat") as llm:
            llm.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "m",
                    "gen_ai.input.messages": json.dumps([{"role": "user", "content": "Hi"}]),
                }
            )
    asm = _assembler(Clock())
    llm_span, app_span = exporter.get_finished_spans()
    assert _feed(asm, [llm_span]) == []  # held until the app's root span ends
    trace_hex = f"{app_ctx.trace_id:032x}"
    held = asm.feedback([_fb(f"{trace_hex}-{app_ctx.span_id:016x}")])
    assert held == []  # its trace has not settled yet: it waits with it
    settled = asm.spans([(app_span, is_foreign(app_span))])
    (it,) = settled.interactions
    assert [f.interaction_id for f in settled.feedback] == [it.id]
    (moved,) = asm.feedback([_fb(trace_hex)])
    assert (moved.interaction_id, tuple(moved.target_ids)) == (it.id, ())
