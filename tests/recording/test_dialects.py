"""The dialect layer: each dialect's attribute shapes (as the real packages write them) to
interaction fields, precedence between dialects, and counted skips."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from rlhf_otel.recording import EventView, decode_span
from rlhf_otel.recording._dialects import dialects
from rlhf_otel.records import TokenUsage


def _span(
    tracer_provider: TracerProvider,
    attrs: Mapping[str, Any],
    events: tuple[tuple[str, Mapping[str, Any]], ...] = (),
    error: bool = False,
) -> ReadableSpan:
    exporter = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = tracer_provider.get_tracer("test").start_span("llm", attributes=dict(attrs))
    for name, event_attrs in events:
        span.add_event(name, dict(event_attrs))
    if error:
        span.set_status(Status(StatusCode.ERROR, "APIError: boom"))
    span.end()
    (finished,) = exporter.get_finished_spans()
    return finished


def test_builtin_dialects_in_precedence_order() -> None:
    """The registry holds every built-in dialect, current gen_ai.* first."""
    assert [d.name for d in dialects()][:7] == [
        "gen_ai",
        "gen_ai_events",
        "openinference",
        "openllmetry",
        "logfire",
        "mlflow",
        "ai_sdk",
    ]


def test_current_genai_attributes(tracer_provider: TracerProvider) -> None:
    """gen_ai.input/output.messages (parts form) give prompt, context, response, tool calls."""
    span = _span(
        tracer_provider,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024",
            "gen_ai.response.id": "chatcmpl-1",
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 7,
            "gen_ai.response.finish_reasons": ("tool_calls",),
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
            "gen_ai.input.messages": json.dumps(
                [
                    {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
                ]
            ),
            "gen_ai.output.messages": json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [
                            {
                                "type": "tool_call",
                                "id": "call_1",
                                "name": "get_weather",
                                "arguments": {"city": "Paris"},
                            }
                        ],
                        "finish_reason": "tool_calls",
                    }
                ]
            ),
        },
    )
    found = decode_span(span)
    it = found.interaction
    assert it is not None
    assert (found.foreign, found.kind) == (True, "llm")
    assert (it.prompt, it.response) == ("Weather?", "")
    assert it.context == [{"role": "system", "content": "Be brief."}]
    assert it.metadata == {
        "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'}]
    }
    assert (it.model, it.provider, it.response_id) == ("gpt-4o-mini", "openai", "chatcmpl-1")
    assert it.token_usage == TokenUsage(12, 7, 19)
    assert it.finish_reasons == ("tool_calls",)


def test_operation_details_event_carries_the_content(tracer_provider: TracerProvider) -> None:
    """EVENT_ONLY content (the operation-details event/log, structured) fills the record."""
    span = _span(
        tracer_provider,
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"},
    )
    details = EventView(
        "gen_ai.client.inference.operation.details",
        {
            "gen_ai.input.messages": (
                {"role": "system", "parts": ({"type": "text", "content": "Be kind."},)},
                {"role": "user", "parts": ({"type": "text", "content": "Hi"},)},
            ),
            "gen_ai.output.messages": (
                {
                    "role": "assistant",
                    "parts": ({"type": "text", "content": "Hello!"},),
                    "finish_reason": "stop",
                },
            ),
        },
    )
    it = decode_span(span, joined=(details,)).interaction
    assert it is not None
    assert (it.prompt, it.response, it.finish_reasons) == ("Hi", "Hello!", ("stop",))
    assert it.context == [{"role": "system", "content": "Be kind."}]
    assert it.provider == "openai"


def test_older_message_events(tracer_provider: TracerProvider) -> None:
    """gen_ai.{role}.message and gen_ai.choice log records (openai-v2 default) fill it."""
    span = _span(
        tracer_provider,
        {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "m1"},
    )
    joined = (
        EventView("gen_ai.system.message", {"gen_ai.system": "openai"}, {"content": "Be kind."}),
        EventView("gen_ai.user.message", {"gen_ai.system": "openai"}, {"content": "Hi"}),
        EventView(
            "gen_ai.choice",
            {"gen_ai.system": "openai"},
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Hello!"},
            },
        ),
    )
    it = decode_span(span, joined=joined).interaction
    assert it is not None
    assert (it.prompt, it.response, it.provider) == ("Hi", "Hello!", "openai")
    assert it.context == [{"role": "system", "content": "Be kind."}]
    assert it.finish_reasons == ("stop",)


def test_legacy_openllmetry(tracer_provider: TracerProvider) -> None:
    """gen_ai.prompt.N.* / gen_ai.completion.N.* / llm.usage.* give the record."""
    span = _span(
        tracer_provider,
        {
            "llm.request.type": "chat",
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "Be brief.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "Weather in Paris?",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.finish_reason": "tool_calls",
            "gen_ai.completion.0.tool_calls.0.id": "call_9",
            "gen_ai.completion.0.tool_calls.0.name": "get_weather",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Paris"}',
            "gen_ai.usage.prompt_tokens": 20,
            "gen_ai.usage.completion_tokens": 5,
            "llm.usage.total_tokens": 25,
        },
    )
    it = decode_span(span).interaction
    assert it is not None
    assert (it.prompt, it.response) == ("Weather in Paris?", "")
    assert it.context == [{"role": "system", "content": "Be brief."}]
    assert it.metadata == {
        "tool_calls": [{"id": "call_9", "name": "get_weather", "arguments": '{"city": "Paris"}'}]
    }
    assert (it.model, it.provider) == ("gpt-4o-mini", "openai")
    assert it.token_usage == TokenUsage(20, 5, 25)
    assert it.finish_reasons == ("tool_calls",)


def test_openinference_llm_span(tracer_provider: TracerProvider) -> None:
    """llm.input_messages/llm.output_messages/llm.token_count give the record."""
    span = _span(
        tracer_provider,
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "llm.provider": "openai",
            "llm.system": "openai",
            "input.value": json.dumps({"messages": [{"role": "user", "content": "Hi"}]}),
            "input.mime_type": "application/json",
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "Be kind.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.contents.0.message_content.type": "text",
            "llm.input_messages.1.message.contents.0.message_content.text": "Hi",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "Hello!",
            "llm.token_count.prompt": 9,
            "llm.token_count.completion": 3,
            "llm.token_count.total": 12,
            "llm.invocation_parameters": json.dumps({"model": "gpt-4o-mini", "temperature": 0.2}),
            "session.id": "s-1",
            "user.id": "u-1",
        },
    )
    it = decode_span(span).interaction
    assert it is not None
    assert (it.prompt, it.response) == ("Hi", "Hello!")
    assert it.context == [{"role": "system", "content": "Be kind."}]
    assert (it.model, it.provider, it.user_id, it.session_id) == (
        "gpt-4o-mini",
        "openai",
        "u-1",
        "s-1",
    )
    assert it.token_usage == TokenUsage(9, 3, 12)
    assert it.model_params == {"temperature": 0.2}


def test_openinference_chain_is_a_wrapper(tracer_provider: TracerProvider) -> None:
    """A CHAIN span's input.value/output.value are the user's input and the final answer."""
    span = _span(
        tracer_provider,
        {
            "openinference.span.kind": "CHAIN",
            "input.value": json.dumps({"question": "What is 2+2?"}),
            "output.value": "4",
        },
    )
    found = decode_span(span)
    assert found.kind == "wrapper"
    assert found.interaction is not None
    assert (found.interaction.prompt, found.interaction.response) == ("What is 2+2?", "4")


def test_openinference_retriever_is_skipped_with_reason(tracer_provider: TracerProvider) -> None:
    """A RETRIEVER span is no interaction: skipped, with the reason the counters show."""
    span = _span(tracer_provider, {"openinference.span.kind": "RETRIEVER", "input.value": "q"})
    found = decode_span(span)
    assert (found.interaction, found.skipped) == (None, "openinference:retriever")


def test_genai_embeddings_and_unknown_shapes_are_skipped(tracer_provider: TracerProvider) -> None:
    """gen_ai embeddings are skipped by operation; a marker with nothing readable is unknown."""
    emb = decode_span(
        _span(tracer_provider, {"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "e"})
    )
    assert (emb.interaction, emb.skipped) == (None, "gen_ai:embeddings")
    odd = decode_span(_span(tracer_provider, {"openinference.span.kind": ""}))
    assert (odd.interaction, odd.skipped) == (None, "unknown_shape")
    plain = decode_span(_span(tracer_provider, {"http.method": "GET"}))
    assert (plain.interaction, plain.skipped, plain.foreign) == (None, None, False)


def test_logfire_version_1(tracer_provider: TracerProvider) -> None:
    """Logfire's request_data/response_data JSON give the record."""
    span = _span(
        tracer_provider,
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "request_data": json.dumps(
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
            ),
            "response_data": json.dumps(
                {
                    "message": {"role": "assistant", "content": "Hello!"},
                    "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
                }
            ),
        },
    )
    it = decode_span(span).interaction
    assert it is not None
    assert (it.prompt, it.response, it.provider) == ("Hi", "Hello!", "openai")
    assert it.token_usage == TokenUsage(4, 2, 6)


def test_pydantic_ai_agent_run(tracer_provider: TracerProvider) -> None:
    """A Pydantic AI agent run (all_messages + final_result) is a wrapper interaction."""
    span = _span(
        tracer_provider,
        {
            "gen_ai.agent.name": "agent",
            "pydantic_ai.all_messages": json.dumps(
                [
                    {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]},
                    {"role": "assistant", "parts": [{"type": "text", "content": "Paris"}]},
                ]
            ),
            "final_result": "Paris",
        },
    )
    found = decode_span(span)
    assert found.kind == "wrapper"
    assert found.interaction is not None
    assert (found.interaction.prompt, found.interaction.response) == ("Capital of France?", "Paris")


def test_mlflow_chat_model_span(tracer_provider: TracerProvider) -> None:
    """MLflow's JSON-quoted attributes, spanInputs and spanOutputs give the record."""
    span = _span(
        tracer_provider,
        {
            "mlflow.spanType": json.dumps("CHAT_MODEL"),
            "mlflow.spanInputs": json.dumps(
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
            ),
            "mlflow.spanOutputs": json.dumps(
                {
                    "id": "chatcmpl-2",
                    "model": "gpt-4o-mini",
                    "choices": [
                        {
                            "message": {"role": "assistant", "content": "Hello!"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
                }
            ),
        },
    )
    it = decode_span(span).interaction
    assert it is not None
    assert (it.prompt, it.response, it.model, it.provider) == (
        "Hi",
        "Hello!",
        "gpt-4o-mini",
        "openai",
    )
    assert (it.response_id, it.finish_reasons) == ("chatcmpl-2", ("stop",))
    assert it.token_usage == TokenUsage(3, 2, 5)


def test_current_genai_wins_over_other_dialects(tracer_provider: TracerProvider) -> None:
    """When a span carries gen_ai.* and OpenInference, each field comes from gen_ai.* first."""
    span = _span(
        tracer_provider,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "from-genai",
            "gen_ai.input.messages": json.dumps([{"role": "user", "content": "genai prompt"}]),
            "openinference.span.kind": "LLM",
            "llm.model_name": "from-openinference",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "oi prompt",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "oi answer",
        },
    )
    it = decode_span(span).interaction
    assert it is not None
    assert (it.prompt, it.response, it.model) == ("genai prompt", "oi answer", "from-genai")


def test_error_status_becomes_error_type(tracer_provider: TracerProvider) -> None:
    """A failed foreign call (status ERROR) is stored with its error type."""
    span = _span(
        tracer_provider,
        {"openinference.span.kind": "LLM", "llm.model_name": "claude-3-5-haiku"},
        events=(("exception", {"exception.type": "anthropic.NotFoundError"}),),
        error=True,
    )
    it = decode_span(span).interaction
    assert it is not None
    assert (it.error_type, it.provider) == ("NotFoundError", "anthropic")


def test_spans_with_the_same_keys_keep_their_own_values(tracer_provider: TracerProvider) -> None:
    """Indexed messages are read per span: same keys, other values, more messages."""

    def openinference(question: str, answer: str, extra: int = 0) -> ReadableSpan:
        attrs: dict[str, Any] = {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": question,
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": answer,
        }
        for i in range(1, extra + 1):
            attrs[f"llm.input_messages.{i}.message.role"] = "user"
            attrs[f"llm.input_messages.{i}.message.content"] = f"{question} {i}"
        return _span(tracer_provider, attrs)

    def openllmetry(question: str, answer: str) -> ReadableSpan:
        return _span(
            tracer_provider,
            {
                "llm.request.type": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": question,
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": answer,
            },
        )

    found = [
        decode_span(s).interaction
        for s in (
            openinference("Hi", "Hello!"),
            openinference("Bye", "Goodbye!"),
            openinference("More", "Sure.", extra=2),
            openllmetry("One", "1"),
            openllmetry("Two", "2"),
        )
    ]
    assert [(it.prompt, it.response, it.context) for it in found if it is not None] == [
        ("Hi", "Hello!", []),
        ("Bye", "Goodbye!", []),
        (
            "More 2",
            "Sure.",
            [{"role": "user", "content": "More"}, {"role": "user", "content": "More 1"}],
        ),
        ("One", "1", []),
        ("Two", "2", []),
    ]
