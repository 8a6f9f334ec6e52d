"""@trace_llm on every kind of callable, streams, errors and the interaction id."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import rlhf_otel
from rlhf_otel import RLHFLogger, TokenUsage, trace_llm


def _openai_like(content: str) -> SimpleNamespace:
    return SimpleNamespace(
        id="chatcmpl-1",
        model="gpt-4o-2024-08-06",
        choices=[SimpleNamespace(message=SimpleNamespace(content=content), finish_reason="stop")],
        usage=SimpleNamespace(prompt_tokens=9, completion_tokens=3, total_tokens=12),
    )


def test_bare_sync_function(logger: RLHFLogger, span_exporter: InMemorySpanExporter) -> None:
    """A bare decorator on a sync function records prompt, response and latency."""

    @trace_llm
    def answer(prompt: str) -> str:
        return prompt.upper()

    assert answer("hello") == "HELLO"
    iid = rlhf_otel.last_interaction_id()
    assert iid is not None
    it = logger.get_interaction(iid)
    assert it is not None
    assert (it.prompt, it.response, it.error_type) == ("hello", "HELLO", None)
    assert it.latency_ms is not None
    assert it.latency_ms >= 0
    (span,) = span_exporter.get_finished_spans()
    assert (span.name, span.kind) == ("chat", SpanKind.CLIENT)


def test_openai_style_return_value_and_messages(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """Model, id, usage and finish reason come from an OpenAI-style response object."""

    @trace_llm(provider="openai")
    def chat(messages: list[dict[str, str]], temperature: float = 0.0) -> Any:
        return _openai_like("Paris")

    chat([{"role": "system", "content": "brief"}, {"role": "user", "content": "Capital?"}])
    it = logger.get_interaction(rlhf_otel.last_interaction_id() or "")
    assert it is not None
    assert (it.prompt, it.response, it.model, it.provider) == (
        "Capital?",
        "Paris",
        "gpt-4o-2024-08-06",
        "openai",
    )
    assert list(it.context) == [{"role": "system", "content": "brief"}]
    assert it.token_usage == TokenUsage(9, 3, 12)
    assert (it.response_id, tuple(it.finish_reasons)) == ("chatcmpl-1", ("stop",))
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "chat gpt-4o-2024-08-06"
    assert span.attributes is not None
    assert span.attributes["gen_ai.response.model"] == "gpt-4o-2024-08-06"


def test_dict_return_value(logger: RLHFLogger) -> None:
    """A dict with a 'response' key and OpenAI-style usage is understood."""

    @trace_llm(model="local-7b", name="generate")
    def gen(question: str) -> dict[str, Any]:
        return {"response": "42", "usage": {"input_tokens": 5, "output_tokens": 1}}

    gen(question="meaning of life?")
    it = logger.get_interaction(rlhf_otel.last_interaction_id() or "")
    assert it is not None
    assert (it.prompt, it.response, it.model) == ("meaning of life?", "42", "local-7b")
    assert it.token_usage == TokenUsage(5, 1, 6)


def test_async_function(logger: RLHFLogger) -> None:
    """An async function is traced and its interaction id is visible in the same task."""

    @trace_llm(model="m")
    async def answer(prompt: str) -> str:
        await asyncio.sleep(0)
        return "async " + prompt

    async def main() -> str | None:
        await answer("hi")
        return rlhf_otel.last_interaction_id()

    iid = asyncio.run(main())
    it = logger.get_interaction(iid or "")
    assert it is not None
    assert it.response == "async hi"


def test_bound_method(logger: RLHFLogger) -> None:
    """A decorated method skips self when finding the prompt."""

    class Bot:
        @trace_llm
        def reply(self, text: str) -> str:
            return f"echo {text}"

    Bot().reply("ping")
    it = logger.get_interaction(rlhf_otel.last_interaction_id() or "")
    assert it is not None
    assert (it.prompt, it.response) == ("ping", "echo ping")


def test_exception_is_recorded_and_reraised_unchanged(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """The user's exception passes through unchanged; the span has error.type and ERROR."""

    class QuotaError(RuntimeError):
        pass

    err = QuotaError("quota")

    @trace_llm
    def fail(prompt: str) -> str:
        raise err

    with pytest.raises(QuotaError) as info:
        fail("x")
    assert info.value is err
    (span,) = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert (
        span.attributes["error.type"]
        == "test_exception_is_recorded_and_reraised_unchanged.<locals>.QuotaError"
    )
    it = logger.get_interaction(rlhf_otel.last_interaction_id() or "")
    assert it is not None
    assert it.error_type is not None
    assert it.error_type.endswith("QuotaError")


def test_generator_stream_ends_at_exhaustion(logger: RLHFLogger) -> None:
    """A generator's span ends when the stream is exhausted, with the joined text and TTFT."""

    @trace_llm
    def stream(prompt: str) -> Iterator[str]:
        yield "Hel"
        yield "lo"

    s = stream("greet")
    iid = rlhf_otel.last_interaction_id()
    assert iid == s.interaction_id  # type: ignore[attr-defined]
    assert list(s) == ["Hel", "lo"]
    it = logger.get_interaction(iid or "")
    assert it is not None
    assert it.response == "Hello"
    assert it.time_to_first_token_ms is not None
    assert it.time_to_first_token_ms >= 0


def test_abandoned_stream_still_ends_its_span(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """A stream dropped half read ends its span (garbage collection) with the partial text."""

    @trace_llm
    def stream(prompt: str) -> Iterator[str]:
        yield "one "
        yield "two "
        yield "three"

    s = stream("count")
    iid = s.interaction_id  # type: ignore[attr-defined]
    assert next(s) == "one "
    del s
    gc.collect()
    assert len(span_exporter.get_finished_spans()) == 1
    it = logger.get_interaction(iid)
    assert it is not None
    assert (it.response, tuple(it.finish_reasons)) == ("one ", ("abandoned",))


def test_generator_error_mid_stream(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """An error raised mid-stream ends the span as an error and reaches the caller."""

    @trace_llm
    def stream(prompt: str) -> Iterator[str]:
        yield "a"
        raise ValueError("boom")

    s = stream("x")
    assert next(s) == "a"
    with pytest.raises(ValueError, match="boom"):
        next(s)
    (span,) = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR


def test_generator_send_is_forwarded(logger: RLHFLogger) -> None:
    """send() reaches the wrapped generator."""

    @trace_llm
    def echo(prompt: str) -> Iterator[str]:
        got = yield "ready"
        yield f"got {got}"

    s = echo("p")
    assert next(s) == "ready"
    assert s.send("x") == "got x"  # type: ignore[attr-defined]


def test_async_generator_and_openai_chunks(logger: RLHFLogger) -> None:
    """An async generator of OpenAI-style chunks gives text, model and final usage."""

    def chunk(text: str | None, usage: Any = None) -> SimpleNamespace:
        choices = (
            []
            if text is None
            else [SimpleNamespace(delta=SimpleNamespace(content=text), finish_reason=None)]
        )
        return SimpleNamespace(id="c1", model="gpt-x", choices=choices, usage=usage)

    @trace_llm
    async def stream(prompt: str) -> AsyncIterator[Any]:
        yield chunk("Bon")
        yield chunk("jour")
        yield chunk(None, SimpleNamespace(prompt_tokens=4, completion_tokens=2, total_tokens=6))

    async def main() -> str:
        s = stream("hello in French")
        async for _ in s:
            pass
        return str(s.interaction_id)  # type: ignore[attr-defined]

    iid = asyncio.run(main())
    it = logger.get_interaction(iid)
    assert it is not None
    assert (it.response, it.model, it.token_usage) == ("Bonjour", "gpt-x", TokenUsage(4, 2, 6))


def test_abandoned_async_stream_ends_on_aclose(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """Breaking out of an async stream and closing it ends the span."""

    @trace_llm
    async def stream(prompt: str) -> AsyncIterator[str]:
        for word in ("a", "b", "c"):
            yield word

    async def main() -> None:
        s = stream("x")
        async for _ in s:
            break
        await s.aclose()  # type: ignore[attr-defined]

    asyncio.run(main())
    assert len(span_exporter.get_finished_spans()) == 1


def test_capture_switches(logger: RLHFLogger) -> None:
    """capture_input/capture_output=False keep the text out of the span and the store."""

    @trace_llm(capture_input=False, capture_output=False)
    def secret(prompt: str) -> str:
        return "classified"

    secret("my password")
    it = logger.get_interaction(rlhf_otel.last_interaction_id() or "")
    assert it is not None
    assert (it.prompt, it.response) == ("", "")


def test_nested_calls_are_parent_and_child(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """A traced call inside another becomes its child span."""

    @trace_llm
    def inner(prompt: str) -> str:
        return "i"

    @trace_llm
    def outer(prompt: str) -> str:
        return inner("sub") + "o"

    outer("top")
    child, parent = span_exporter.get_finished_spans()
    assert child.parent is not None
    assert child.parent.span_id == parent.context.span_id


def test_feedback_while_open_becomes_an_event(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """Feedback given while the interaction span is open is an event on it, stored as feedback."""

    @trace_llm
    def answer(prompt: str) -> str:
        iid = rlhf_otel.last_interaction_id()
        assert iid is not None
        logger.log_binary_feedback(iid, True)
        return "ok"

    answer("q")
    iid = rlhf_otel.last_interaction_id() or ""
    (span,) = span_exporter.get_finished_spans()
    assert [e.name for e in span.events] == ["gen_ai.evaluation.result"]
    (fb,) = logger.get_feedback_for_interaction(iid)
    assert dict(fb.data) == {"value": "thumbs_up"}


def test_without_logger_uses_global_provider_path(
    span_exporter: InMemorySpanExporter,
) -> None:
    """With no logger, the decorator never fails the call (it uses the global API tracer)."""

    @trace_llm
    def answer(prompt: str) -> str:
        return "fine"

    assert rlhf_otel._logger.default_logger() is None
    assert answer("x") == "fine"
