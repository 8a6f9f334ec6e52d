"""Instrumentor lifecycle, single-client instrumentation, providers, coexistence, logger wiring."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import tomllib
import wrapt
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from rlhf_otel_instrumentation.openai import SUPERSEDED, TARGETS, OpenAIInstrumentor

from rlhf_otel import attributes as A
from rlhf_otel import create_rlhf_logger, redact_secrets
from rlhf_otel.recording import last_interaction_id, records_from_span
from tests.instrumentation.conftest import interaction_of, only_span, summary
from tests.servers.openai_server import OpenAIServer

HELLO = [{"role": "user", "content": "hello there"}]
ROOT = Path(__file__).resolve().parents[2]


def _owners() -> dict[tuple[str, str, str], Any]:
    import importlib

    owners = {t: getattr(importlib.import_module(t.module), t.cls) for t in TARGETS}
    return {(t.module, t.cls, t.method): owners[t].__dict__[t.method] for t in TARGETS}


def test_wraps_every_target_and_uninstrument_restores_originals(
    tracer_provider: TracerProvider,
) -> None:
    """instrument() wraps the ten methods; uninstrument() puts the very same functions back."""
    before = _owners()
    assert len(before) == 10
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=tracer_provider)
    try:
        during = _owners()
        assert all(isinstance(f, wrapt.FunctionWrapper) for f in during.values())
        assert all(during[k].__wrapped__ is before[k] for k in before)
    finally:
        inst.uninstrument()
    after = _owners()
    assert all(after[k] is before[k] for k in before)


def test_uninstrument_under_another_wrapper_keeps_it(tracer_provider: TracerProvider) -> None:
    """A wrapper another library put over ours survives our uninstrument()."""
    from openai.resources.chat.completions import Completions

    original = Completions.__dict__["create"]
    seen: list[str] = []

    def other(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        seen.append("other")
        return wrapped(*args, **kwargs)

    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=tracer_provider)
    wrapt.wrap_function_wrapper(Completions, "create", other)
    inst.uninstrument()
    outer = Completions.__dict__["create"]
    assert outer._self_wrapper is other
    assert outer.__wrapped__ is original
    Completions.create = original  # type: ignore[method-assign]


def test_instrument_client_touches_only_that_client(
    openai_server: OpenAIServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    """instrument_client records one client's calls, leaves classes and other clients alone."""
    from openai.resources.chat.completions import Completions

    original = Completions.__dict__["create"]
    mine = openai.OpenAI(base_url=openai_server.base_url, api_key="k", max_retries=0)
    other = openai.OpenAI(base_url=openai_server.base_url, api_key="k", max_retries=0)
    inst = OpenAIInstrumentor()
    inst.instrument_client(mine, tracer_provider=tracer_provider, provider_name="vllm")
    inst.instrument_client(mine, tracer_provider=tracer_provider)  # a second call is a no-op
    assert Completions.__dict__["create"] is original
    other.chat.completions.create(model="gpt-test", messages=HELLO)
    assert span_exporter.get_finished_spans() == ()
    mine.chat.completions.create(model="gpt-test", messages=HELLO)
    mine.responses.create(model="gpt-test", input="hi")
    chat, resp = span_exporter.get_finished_spans()
    assert (interaction_of(chat).provider, interaction_of(resp).provider) == ("vllm", "vllm")
    inst.uninstrument_client(mine)
    mine.chat.completions.create(model="gpt-test", messages=HELLO)
    assert len(span_exporter.get_finished_spans()) == 2
    mine.close()
    other.close()


@pytest.mark.anyio
async def test_instrument_async_client(
    openai_server: OpenAIServer,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    """instrument_client works on an AsyncOpenAI client, streams included."""
    client = openai.AsyncOpenAI(base_url=openai_server.base_url, api_key="k", max_retries=0)
    OpenAIInstrumentor().instrument_client(client, tracer_provider=tracer_provider)
    stream = await client.chat.completions.create(model="gpt-test", messages=HELLO, stream=True)
    assert [c.choices[0].delta.content async for c in stream if c.choices] == [
        "",
        "Echo:",
        " hello",
        " there",
        None,
    ]
    await client.completions.create(model="davinci", prompt="x")
    await client.close()
    chat, legacy = span_exporter.get_finished_spans()
    assert (interaction_of(chat).response, interaction_of(legacy).response) == (
        "Echo: hello there",
        " Echo: x",
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _ToLoopback(httpx2.HTTPTransport):
    """Sends every request to the local server, whatever host the client's base URL names."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._port = port

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port)
        return super().handle_request(request)


def test_non_openai_base_url_gives_its_provider(
    instrumentor: OpenAIInstrumentor,
    openai_server: OpenAIServer,
    openai_client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
) -> None:
    """A client whose base URL is Groq's records provider groq and otherwise the same record."""
    groq = openai.OpenAI(
        base_url="https://api.groq.com/openai/v1",
        api_key="k",
        max_retries=0,
        http_client=httpx2.Client(transport=_ToLoopback(openai_server.port)),
    )
    groq.chat.completions.create(model="gpt-test", messages=HELLO)
    openai_client.chat.completions.create(model="gpt-test", messages=HELLO)
    groq_span, local_span = span_exporter.get_finished_spans()
    assert (groq_span.attributes or {})[A.GEN_AI_PROVIDER_NAME] == "groq"
    groq_record, local_record = (
        summary(interaction_of(groq_span)),
        summary(interaction_of(local_span)),
    )
    assert groq_record["provider"] == "groq"
    assert local_record["provider"] == "openai"
    assert {**groq_record, "provider": "openai"} == local_record
    groq.close()


def test_provider_hosts_name_a_local_server(
    openai_server: OpenAIServer,
    openai_client: openai.OpenAI,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    """provider_hosts maps a self-hosted endpoint (host:port) to its provider name."""
    inst = OpenAIInstrumentor()
    inst.instrument(
        tracer_provider=tracer_provider, provider_hosts={f"127.0.0.1:{openai_server.port}": "vllm"}
    )
    try:
        openai_client.chat.completions.create(model="gpt-test", messages=HELLO)
    finally:
        inst.uninstrument()
    assert interaction_of(only_span(span_exporter)).provider == "vllm"


class _BrokenTracerProvider(TracerProvider):
    """A provider whose tracer cannot start spans: stands for a bug on the telemetry path."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        tracer = super().get_tracer(*args, **kwargs)

        def start_span(*a: Any, **kw: Any) -> Any:
            raise RuntimeError("telemetry is broken")

        tracer.start_span = start_span  # type: ignore[method-assign]
        return tracer


def test_failure_in_instrumentation_never_breaks_the_call(
    openai_client: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    """When our own code fails, the call still returns its normal result and we log why."""
    provider = _BrokenTracerProvider()
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider)
    try:
        with caplog.at_level(logging.DEBUG, logger="rlhf_otel_instrumentation.openai"):
            reply = openai_client.chat.completions.create(model="gpt-test", messages=HELLO)
            chunks = list(
                openai_client.chat.completions.create(model="gpt-test", messages=HELLO, stream=True)
            )
    finally:
        inst.uninstrument()
        provider.shutdown()
    assert reply.choices[0].message.content == "Echo: hello there"
    assert len(chunks) == 5
    assert any("span start" in r.getMessage() for r in caplog.records)


def test_logger_applies_redaction_sessions_and_takes_feedback(
    openai_server: OpenAIServer, openai_client: openai.OpenAI
) -> None:
    """Wired to a logger, calls are stored redacted, in its session, and take thumbs feedback."""
    logger = create_rlhf_logger(
        backend="memory",
        tracer_provider=TracerProvider(),
        redact=[redact_secrets],
        enable_batching=False,
    )
    inst = OpenAIInstrumentor()
    inst.instrument(logger=logger)
    try:
        session_id = logger.start_session("user-42")
        openai_client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "my mail is a@b.io"}]
        )
        interaction_id = last_interaction_id()
        assert interaction_id is not None
        logger.log_binary_feedback(interaction_id, True)
        stored = logger.get_interaction(interaction_id)
        assert stored is not None
        assert (stored.prompt, stored.response) == (
            "my mail is [REDACTED:email]",
            "Echo: my mail is [REDACTED:email]",
        )
        assert (stored.user_id, stored.session_id, stored.provider) == (
            "user-42",
            session_id,
            "openai",
        )
        assert [f.data["value"] for f in logger.get_feedback_for_interaction(interaction_id)] == [
            "thumbs_up"
        ]
        assert logger.delivery()["accepted"] == logger.delivery()["stored"] == 2
    finally:
        inst.uninstrument()
        logger.close()


def test_feedback_during_an_open_stream_is_an_event(openai_client: openai.OpenAI) -> None:
    """Feedback given while a stream is still open rides on the interaction span as an event."""
    logger = create_rlhf_logger(
        backend="memory", tracer_provider=TracerProvider(), enable_batching=False
    )
    inst = OpenAIInstrumentor()
    inst.instrument(logger=logger)
    try:
        stream = openai_client.chat.completions.create(
            model="gpt-test", messages=HELLO, stream=True
        )
        interaction_id = last_interaction_id()
        assert interaction_id is not None
        next(stream)
        logger.log_rating(interaction_id, 4)
        list(stream)
        assert [f.data["rating"] for f in logger.get_feedback_for_interaction(interaction_id)] == [
            4
        ]
        stored = logger.get_interaction(interaction_id)
        assert stored is not None
        assert stored.response == "Echo: hello there"
    finally:
        inst.uninstrument()
        logger.close()


@pytest.fixture
def official_instrumentor(tracer_provider: TracerProvider) -> Iterator[Any]:
    v2 = pytest.importorskip("opentelemetry.instrumentation.openai_v2")
    official = v2.OpenAIInstrumentor()
    yield official
    if official.is_instrumented_by_opentelemetry:
        official.uninstrument()


@pytest.mark.parametrize("ours_first", [True, False])
def test_official_instrumentation_alongside_gives_one_interaction(
    official_instrumentor: Any,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    openai_client: openai.OpenAI,
    ours_first: bool,
) -> None:
    """Next to the official OpenAI instrumentation, in either order, one call is one record."""
    ours = OpenAIInstrumentor()
    first, second = (ours, official_instrumentor) if ours_first else (official_instrumentor, ours)
    first.instrument(tracer_provider=tracer_provider)
    second.instrument(tracer_provider=tracer_provider)
    try:
        openai_client.chat.completions.create(model="gpt-test", messages=HELLO)
    finally:
        ours.uninstrument()
        official_instrumentor.uninstrument()
    spans = span_exporter.get_finished_spans()
    assert len(spans) == 2
    records = [records_from_span(s)[0] for s in spans]
    interactions = [r for r in records if r is not None]
    assert len(interactions) == 1
    assert interactions[0].response == "Echo: hello there"
    inner, outer = spans
    assert (inner.attributes or {})[A.RLHF_RECORD_KIND] == "interaction"
    assert (outer.attributes or {})[A.RLHF_RECORD_KIND] == SUPERSEDED
    assert inner.parent is not None
    assert inner.parent.span_id == outer.context.span_id


def test_entry_point_and_dependencies() -> None:
    """The package declares its own opentelemetry_instrumentor entry point and openai range."""
    meta = tomllib.loads((ROOT / "instrumentation/openai/pyproject.toml").read_text())
    assert meta["project"]["name"] == "rlhf-otel-instrumentation-openai"
    assert meta["project"]["entry-points"]["opentelemetry_instrumentor"] == {
        "rlhf_openai": "rlhf_otel_instrumentation.openai:OpenAIInstrumentor"
    }
    assert tuple(OpenAIInstrumentor().instrumentation_dependencies()) == ("openai >= 1.40",)
    assert OpenAIInstrumentor() is OpenAIInstrumentor()


def test_span_kind_is_client_for_every_operation(
    instrumentor: OpenAIInstrumentor,
    openai_client: openai.OpenAI,
    span_exporter: InMemorySpanExporter,
) -> None:
    """Chat, Responses and legacy completion spans are all CLIENT spans."""
    openai_client.chat.completions.create(model="gpt-test", messages=HELLO)
    openai_client.responses.create(model="gpt-test", input="hi")
    openai_client.completions.create(model="davinci", prompt="x")
    assert [(s.name, s.kind) for s in span_exporter.get_finished_spans()] == [
        ("chat gpt-test", SpanKind.CLIENT),
        ("chat gpt-test", SpanKind.CLIENT),
        ("text_completion davinci", SpanKind.CLIENT),
    ]
