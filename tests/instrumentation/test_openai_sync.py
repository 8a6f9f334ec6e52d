"""The real openai client over real HTTP, synchronous methods, instrumented."""

from __future__ import annotations

import gc
import json
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel
from rlhf_otel_instrumentation.openai import OpenAIInstrumentor

from rlhf_otel import attributes as A
from rlhf_otel.recording import last_interaction_id
from rlhf_otel.records import TokenUsage
from tests.instrumentation.conftest import interaction_of, only_span, summary
from tests.servers.openai_server import OpenAIServer

pytestmark = pytest.mark.usefixtures("instrumentor")

HELLO = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hello there"}]
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
]


class Answer(BaseModel):
    answer: str


def test_chat_create_records_one_client_span(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """A chat call is one CLIENT span `chat {model}` whose record is the whole exchange."""
    reply = openai_client.chat.completions.create(
        model="gpt-test", messages=HELLO, temperature=0.5, max_tokens=20, user="u-1"
    )
    span = only_span(span_exporter)
    assert (span.name, span.kind, span.status.status_code) == (
        "chat gpt-test",
        SpanKind.CLIENT,
        StatusCode.UNSET,
    )
    attrs = span.attributes or {}
    assert attrs[A.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[A.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[A.GEN_AI_REQUEST_MODEL] == "gpt-test"
    assert attrs[A.GEN_AI_RESPONSE_MODEL] == "gpt-test-2024"
    assert attrs[A.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert attrs[A.GEN_AI_REQUEST_MAX_TOKENS] == 20
    assert attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 4
    assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    it = interaction_of(span)
    assert summary(it) == {
        "prompt": "hello there",
        "response": "Echo: hello there",
        "model": "gpt-test",
        "provider": "openai",
        "model_params": {"temperature": 0.5, "max_tokens": 20},
        "token_usage": TokenUsage(4, 3, 7),
        "context": [{"role": "system", "content": "Be kind."}],
        "response_id": reply.id,
        "finish_reasons": ("stop",),
        "error_type": None,
        "user_id": "u-1",
    }
    ctx = span.get_span_context()
    assert it.id == f"{ctx.trace_id:032x}-{ctx.span_id:016x}" == attrs[A.RLHF_INTERACTION_ID]
    assert last_interaction_id() == it.id
    assert it.latency_ms is not None
    assert it.latency_ms > 0


def test_interaction_id_is_available_during_a_stream(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """The caller has the interaction id as soon as create() returns, before the stream ends."""
    stream = openai_client.chat.completions.create(model="gpt-test", messages=HELLO, stream=True)
    during = last_interaction_id()
    assert span_exporter.get_finished_spans() == ()
    list(stream)
    assert interaction_of(only_span(span_exporter)).id == during


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("chat.completions.create", {"model": "gpt-test", "messages": HELLO, "seed": 3}),
        ("chat.completions.create", {"model": "tools", "messages": HELLO, "tools": TOOLS}),
        (
            "chat.completions.parse",
            {"model": "gpt-test", "messages": HELLO, "response_format": Answer},
        ),
        ("responses.create", {"model": "gpt-test", "input": "hi", "instructions": "Be brief."}),
        ("responses.parse", {"model": "gpt-test", "input": "hi", "text_format": Answer}),
        ("completions.create", {"model": "davinci", "prompt": "Say hi"}),
    ],
)
def test_return_values_are_identical_to_uninstrumented(
    openai_client: openai.OpenAI,
    instrumentor: OpenAIInstrumentor,
    tracer_provider: Any,
    span_exporter: InMemorySpanExporter,
    method: str,
    kwargs: dict[str, Any],
) -> None:
    """Every wrapped method returns the very same object, field by field, as without us."""

    def call() -> Any:
        target: Any = openai_client
        for name in method.split("."):
            target = getattr(target, name)
        return target(**kwargs)

    instrumentor.uninstrument()
    plain = call()
    instrumentor.instrument(tracer_provider=tracer_provider)
    traced = call()
    assert type(traced) is type(plain)
    assert traced.model_dump(warnings=False) == plain.model_dump(warnings=False)
    assert traced == plain
    if method.endswith("parse"):
        parsed = (
            traced.output_parsed
            if method.startswith("responses")
            else traced.choices[0].message.parsed
        )
        assert parsed == Answer(
            answer="Echo: hi" if method.startswith("responses") else "Echo: hello there"
        )
    assert len(span_exporter.get_finished_spans()) == 1


def test_stream_chunks_are_identical_to_uninstrumented(
    openai_client: openai.OpenAI, instrumentor: OpenAIInstrumentor, tracer_provider: Any
) -> None:
    """A streamed call yields the same chunks, and the proxy is still an openai Stream."""
    kwargs: dict[str, Any] = {
        "model": "gpt-test",
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    instrumentor.uninstrument()
    plain = [c.model_dump() for c in openai_client.chat.completions.create(**kwargs)]
    instrumentor.instrument(tracer_provider=tracer_provider)
    stream = openai_client.chat.completions.create(**kwargs)
    assert isinstance(stream, openai.Stream)
    assert stream.response.status_code == 200
    assert [c.model_dump() for c in stream] == plain


def test_stream_with_usage_chunk(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """A stream with a final usage chunk records its usage and the joined text."""
    stream = openai_client.chat.completions.create(
        model="gpt-test", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    for _ in stream:
        pass
    it = interaction_of(only_span(span_exporter))
    assert (it.response, it.token_usage, it.finish_reasons) == (
        "Echo: hello there",
        TokenUsage(4, 3, 7),
        ("stop",),
    )
    assert it.time_to_first_token_ms is not None
    assert 0 < it.time_to_first_token_ms <= it.latency_ms


def test_stream_without_usage_leaves_usage_absent(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter, openai_server: OpenAIServer
) -> None:
    """Without a usage chunk usage stays absent (never guessed); the request is left as sent."""
    list(openai_client.chat.completions.create(model="gpt-test", messages=HELLO, stream=True))
    span = only_span(span_exporter)
    assert A.GEN_AI_USAGE_INPUT_TOKENS not in (span.attributes or {})
    assert interaction_of(span).token_usage is None
    assert "stream_options" not in openai_server.requests[-1][1]


def test_request_stream_usage_option_asks_for_usage(
    openai_client: openai.OpenAI,
    instrumentor: OpenAIInstrumentor,
    tracer_provider: Any,
    span_exporter: InMemorySpanExporter,
    openai_server: OpenAIServer,
) -> None:
    """request_stream_usage adds include_usage where the caller set no stream_options."""
    instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=tracer_provider, request_stream_usage=True)
    chunks = list(
        openai_client.chat.completions.create(model="gpt-test", messages=HELLO, stream=True)
    )
    assert openai_server.requests[-1][1]["stream_options"] == {"include_usage": True}
    assert chunks[-1].usage is not None
    list(
        openai_client.chat.completions.create(
            model="gpt-test",
            messages=HELLO,
            stream=True,
            stream_options={"include_obfuscation": False},
        )
    )
    assert openai_server.requests[-1][1]["stream_options"] == {"include_obfuscation": False}
    first, second = span_exporter.get_finished_spans()
    assert interaction_of(first).token_usage == TokenUsage(4, 3, 7)
    assert interaction_of(second).token_usage is None


def test_streamed_tool_calls_are_recorded(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """Tool-call deltas of a stream end up as one tool call in the output messages."""
    list(
        openai_client.chat.completions.create(
            model="tools", messages=HELLO, tools=TOOLS, stream=True
        )
    )
    span = only_span(span_exporter)
    output = json.loads((span.attributes or {})[A.GEN_AI_OUTPUT_MESSAGES])  # type: ignore[arg-type]
    call_id = output[0]["parts"][0]["id"]
    assert output == [
        {
            "role": "assistant",
            "finish_reason": "tool_calls",
            "parts": [
                {
                    "type": "tool_call",
                    "id": call_id,
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        }
    ]
    assert interaction_of(span).finish_reasons == ("tool_calls",)


def test_stream_close_ends_span(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """close() half way ends the span with what was read, marked abandoned."""
    stream = openai_client.chat.completions.create(model="gpt-test", messages=HELLO, stream=True)
    next(stream)
    next(stream)
    stream.close()
    it = interaction_of(only_span(span_exporter))
    assert (it.response, it.finish_reasons) == ("Echo:", ("abandoned",))


def test_stream_context_manager_ends_span(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """Leaving the with-block ends the span; the with-target is the instrumented stream."""
    with openai_client.chat.completions.create(
        model="gpt-test", messages=HELLO, stream=True
    ) as stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content == " hello":
                break
    assert interaction_of(only_span(span_exporter)).response == "Echo: hello"


def test_abandoned_stream_ends_span_when_collected(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """A stream dropped half read still ends its span once garbage-collected."""
    stream = openai_client.chat.completions.create(model="gpt-test", messages=HELLO, stream=True)
    next(stream)
    next(stream)
    assert span_exporter.get_finished_spans() == ()
    del stream
    gc.collect()
    assert interaction_of(only_span(span_exporter)).response == "Echo:"


def test_stream_error_is_recorded_and_reraised(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """An error event mid-stream is recorded on the span and reaches the caller unchanged."""
    stream = openai_client.chat.completions.create(
        model="stream-error", messages=HELLO, stream=True
    )
    with pytest.raises(openai.APIError, match="simulated stream failure"):
        for _ in stream:
            pass
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    it = interaction_of(span)
    assert (it.error_type, it.response) == ("APIError", "Echo: hello")


def test_time_to_first_token_of_a_slow_stream(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """Time to first token covers the server's delay before the first chunk."""
    list(openai_client.chat.completions.create(model="slow-stream", messages=HELLO, stream=True))
    it = interaction_of(only_span(span_exporter))
    assert it.time_to_first_token_ms is not None
    assert it.time_to_first_token_ms >= 380
    assert (span_exporter.get_finished_spans()[0].attributes or {})[
        A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
    ] == pytest.approx(it.time_to_first_token_ms / 1000)


def test_stream_helpers_are_recorded_through_create(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """chat.completions.stream() and responses.stream() each give one interaction."""
    with openai_client.chat.completions.stream(model="gpt-test", messages=HELLO) as stream:
        text = "".join(e.delta for e in stream if e.type == "content.delta")
    with openai_client.responses.stream(model="gpt-test", input="hi") as rstream:
        final = rstream.get_final_response()
    assert (text, final.output_text) == ("Echo: hello there", "Echo: hi")
    gc.collect()
    chat, resp = span_exporter.get_finished_spans()
    assert interaction_of(chat).response == "Echo: hello there"
    assert (interaction_of(resp).response, interaction_of(resp).token_usage) == (
        "Echo: hi",
        TokenUsage(1, 2, 3),
    )


def test_responses_stream(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """A streamed Responses call records text, usage and finish reason from response.completed."""
    events = list(
        openai_client.responses.create(
            model="gpt-test", input="hi", instructions="Be brief.", stream=True
        )
    )
    assert events[-1].type == "response.completed"
    span = only_span(span_exporter)
    assert summary(interaction_of(span)) == {
        "prompt": "hi",
        "response": "Echo: hi",
        "model": "gpt-test",
        "provider": "openai",
        "model_params": {},
        "token_usage": TokenUsage(3, 2, 5),
        "context": [{"role": "system", "content": "Be brief."}],
        "response_id": events[-1].response.id,
        "finish_reasons": ("stop",),
        "error_type": None,
        "user_id": None,
    }
    assert interaction_of(span).time_to_first_token_ms is not None


def test_legacy_completions_stream(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """A streamed legacy completion is a text_completion interaction."""
    list(
        openai_client.completions.create(
            model="davinci", prompt="Say hi", stream=True, stream_options={"include_usage": True}
        )
    )
    span = only_span(span_exporter)
    assert (span.name, (span.attributes or {})[A.GEN_AI_OPERATION_NAME]) == (
        "text_completion davinci",
        "text_completion",
    )
    it = interaction_of(span)
    assert (it.prompt, it.response, it.token_usage) == (
        "Say hi",
        " Echo: Say hi",
        TokenUsage(2, 3, 5),
    )


@pytest.mark.parametrize(
    ("model", "error", "error_type"),
    [
        ("error-429", openai.RateLimitError, "RateLimitError"),
        ("error-500", openai.InternalServerError, "InternalServerError"),
        ("error-400", openai.BadRequestError, "BadRequestError"),
    ],
)
def test_api_errors_are_recorded_and_reraised(
    openai_client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
    model: str,
    error: type[Exception],
    error_type: str,
) -> None:
    """HTTP errors mark the span (error.type, status ERROR) and reach the caller unchanged."""
    with pytest.raises(error) as caught:
        openai_client.chat.completions.create(model=model, messages=HELLO)
    assert caught.value.status_code == int(model[-3:])  # type: ignore[attr-defined]
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[A.ERROR_TYPE] == error_type
    assert [e.name for e in span.events] == ["exception"]
    it = interaction_of(span)
    assert (it.error_type, it.prompt, it.response) == (error_type, "hello there", "")


def test_timeout_is_recorded_and_reraised(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """A slow response past the timeout raises APITimeoutError, recorded on the span."""
    with pytest.raises(openai.APITimeoutError):
        openai_client.chat.completions.create(model="slow", messages=HELLO, timeout=0.1)
    assert interaction_of(only_span(span_exporter)).error_type == "APITimeoutError"


def test_slow_response_latency(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """A slow but successful call records its full latency."""
    openai_client.chat.completions.create(model="slow", messages=HELLO)
    it = interaction_of(only_span(span_exporter))
    assert it.latency_ms is not None
    assert it.latency_ms >= 380
    assert it.response == "Echo: hello there"


def test_single_pass_messages_still_reach_the_server(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter, openai_server: OpenAIServer
) -> None:
    """A generator of messages is read once for the record and still sent in full."""
    openai_client.chat.completions.create(model="gpt-test", messages=(m for m in HELLO))
    assert openai_server.requests[-1][1]["messages"] == HELLO
    assert interaction_of(only_span(span_exporter)).prompt == "hello there"


def test_raw_response_is_recorded(
    openai_client: openai.OpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """with_raw_response returns the raw response and the call is still one interaction."""
    raw = openai_client.chat.completions.with_raw_response.create(model="gpt-test", messages=HELLO)
    assert raw.http_response.status_code == 200
    assert raw.parse().choices[0].message.content == "Echo: hello there"
    assert interaction_of(only_span(span_exporter)).response == "Echo: hello there"


def test_content_capture_off(
    openai_client: openai.OpenAI,
    instrumentor: OpenAIInstrumentor,
    tracer_provider: Any,
    span_exporter: InMemorySpanExporter,
) -> None:
    """capture_content=False keeps messages out of the span and the record."""
    instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=tracer_provider, capture_content=False)
    openai_client.chat.completions.create(model="gpt-test", messages=HELLO)
    span = only_span(span_exporter)
    assert A.GEN_AI_INPUT_MESSAGES not in (span.attributes or {})
    assert A.GEN_AI_OUTPUT_MESSAGES not in (span.attributes or {})
    it = interaction_of(span)
    assert (it.prompt, it.response, it.token_usage) == ("", "", TokenUsage(4, 3, 7))
