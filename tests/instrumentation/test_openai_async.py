"""The real AsyncOpenAI client over real HTTP, every wrapped async method, instrumented."""

from __future__ import annotations

import gc
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from pydantic import BaseModel
from rlhf_otel_instrumentation.openai import OpenAIInstrumentor

from rlhf_otel.recording import last_interaction_id
from rlhf_otel.records import TokenUsage
from tests.instrumentation.conftest import interaction_of, only_span

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("instrumentor")]

HELLO = [{"role": "user", "content": "hello there"}]


class Answer(BaseModel):
    answer: str


@pytest.mark.parametrize(
    ("method", "kwargs", "response"),
    [
        ("chat.completions.create", {"model": "gpt-test", "messages": HELLO}, "Echo: hello there"),
        (
            "chat.completions.parse",
            {"model": "gpt-test", "messages": HELLO, "response_format": Answer},
            '{"answer": "Echo: hello there"}',
        ),
        ("responses.create", {"model": "gpt-test", "input": "hi"}, "Echo: hi"),
        (
            "responses.parse",
            {"model": "gpt-test", "input": "hi", "text_format": Answer},
            '{"answer": "Echo: hi"}',
        ),
        ("completions.create", {"model": "davinci", "prompt": "Say hi"}, " Echo: Say hi"),
    ],
)
async def test_async_methods_identical_and_recorded(
    async_openai_client: openai.AsyncOpenAI,
    instrumentor: OpenAIInstrumentor,
    tracer_provider: Any,
    span_exporter: InMemorySpanExporter,
    method: str,
    kwargs: dict[str, Any],
    response: str,
) -> None:
    """Each async method returns what it returns uninstrumented and records one interaction."""

    async def call() -> Any:
        target: Any = async_openai_client
        for name in method.split("."):
            target = getattr(target, name)
        return await target(**kwargs)

    instrumentor.uninstrument()
    plain = await call()
    instrumentor.instrument(tracer_provider=tracer_provider)
    traced = await call()
    assert type(traced) is type(plain)
    assert traced.model_dump(warnings=False) == plain.model_dump(warnings=False)
    it = interaction_of(only_span(span_exporter))
    assert it.response == response
    assert last_interaction_id() == it.id


@pytest.mark.parametrize(
    ("method", "kwargs", "response", "usage"),
    [
        (
            "chat.completions.create",
            {"model": "gpt-test", "messages": HELLO, "stream_options": {"include_usage": True}},
            "Echo: hello there",
            TokenUsage(2, 3, 5),
        ),
        (
            "chat.completions.create",
            {"model": "gpt-test", "messages": HELLO},
            "Echo: hello there",
            None,
        ),
        ("responses.create", {"model": "gpt-test", "input": "hi"}, "Echo: hi", TokenUsage(1, 2, 3)),
        ("completions.create", {"model": "davinci", "prompt": "Say hi"}, " Echo: Say hi", None),
    ],
)
async def test_async_streams_identical_and_recorded(
    async_openai_client: openai.AsyncOpenAI,
    instrumentor: OpenAIInstrumentor,
    tracer_provider: Any,
    span_exporter: InMemorySpanExporter,
    method: str,
    kwargs: dict[str, Any],
    response: str,
    usage: TokenUsage | None,
) -> None:
    """Async streams yield the same items as uninstrumented and record text and usage."""

    async def items() -> list[Any]:
        target: Any = async_openai_client
        for name in method.split("."):
            target = getattr(target, name)
        stream = await target(stream=True, **kwargs)
        assert isinstance(stream, openai.AsyncStream)
        return [item.model_dump() async for item in stream]

    instrumentor.uninstrument()
    plain = await items()
    instrumentor.instrument(tracer_provider=tracer_provider)
    assert await items() == plain
    it = interaction_of(only_span(span_exporter))
    assert (it.response, it.token_usage) == (response, usage)
    assert it.time_to_first_token_ms is not None


async def test_async_stream_close_context_manager_and_abandon(
    async_openai_client: openai.AsyncOpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """close(), async with and garbage collection each end an async stream's span."""
    create = async_openai_client.chat.completions.create
    stream = await create(model="gpt-test", messages=HELLO, stream=True)
    await stream.__anext__()
    await stream.close()
    async with await create(model="gpt-test", messages=HELLO, stream=True) as managed:
        async for _ in managed:
            break
    abandoned = await create(model="gpt-test", messages=HELLO, stream=True)
    await abandoned.__anext__()
    await abandoned.__anext__()
    assert len(span_exporter.get_finished_spans()) == 2
    response = abandoned.response
    del abandoned
    gc.collect()
    await response.aclose()
    closed, managed_span, collected = span_exporter.get_finished_spans()
    assert interaction_of(closed).response == ""
    assert interaction_of(managed_span).response == ""
    assert interaction_of(collected).response == "Echo:"


async def test_async_stream_helper(
    async_openai_client: openai.AsyncOpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """The async chat.completions.stream() helper is recorded through create()."""
    async with async_openai_client.chat.completions.stream(
        model="gpt-test", messages=HELLO
    ) as stream:
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "Echo: hello there"
    gc.collect()
    assert interaction_of(only_span(span_exporter)).response == "Echo: hello there"


async def test_async_error_and_timeout(
    async_openai_client: openai.AsyncOpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """Async API errors and timeouts are recorded and re-raised unchanged."""
    with pytest.raises(openai.RateLimitError):
        await async_openai_client.chat.completions.create(model="error-429", messages=HELLO)
    with pytest.raises(openai.APITimeoutError):
        await async_openai_client.responses.create(model="slow", input="hi", timeout=0.1)
    rate, timeout = span_exporter.get_finished_spans()
    assert rate.status.status_code is StatusCode.ERROR
    assert (interaction_of(rate).error_type, interaction_of(timeout).error_type) == (
        "RateLimitError",
        "APITimeoutError",
    )


async def test_async_stream_error(
    async_openai_client: openai.AsyncOpenAI, span_exporter: InMemorySpanExporter
) -> None:
    """A mid-stream error of an async stream is recorded and re-raised."""
    stream = await async_openai_client.chat.completions.create(
        model="stream-error", messages=HELLO, stream=True
    )
    with pytest.raises(openai.APIError, match="simulated stream failure"):
        async for _ in stream:
            pass
    assert interaction_of(only_span(span_exporter)).error_type == "APIError"
