"""OTLP out: the exporter builder, the content capture rule and the redaction hook."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from rlhf_otel import ConfigurationError, create_rlhf_logger, redact_secrets
from rlhf_otel import attributes as A
from rlhf_otel.pipeline import (
    ContentCaptureSpanExporter,
    build_otlp_exporter,
    strip_content,
    text_redaction_hook,
)
from rlhf_otel.pipeline._otlp import capture_content_from_env
from rlhf_otel.receiver import OTLPReceiver, ReceiverConfig
from rlhf_otel.stores import MemoryStore
from tests.collector._app import (
    every_feedback,
    log_feedback,
    log_feedback_event,
    log_interaction,
)
from tests.collector._bodies import finished_spans
from tests.collector.conftest import wait_for
from tests.servers.rotel import run_rotel


def _send(exporter: SpanExporter, emit: Callable[[Tracer], object]) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    emit(provider.get_tracer("test"))
    provider.shutdown()


def _feedback_workload(tracer: Tracer) -> None:
    ids = [log_interaction(tracer, n) for n in range(3)]
    for fb in every_feedback(ids):
        log_feedback(tracer, fb)
    log_feedback_event(tracer, 7)


def test_base_endpoint_gets_the_traces_path(receiver: OTLPReceiver, store: MemoryStore) -> None:
    """An explicit base URL is completed with /v1/traces; spans arrive."""
    base = receiver.endpoint.removesuffix("/v1/traces")
    _send(build_otlp_exporter(base), lambda t: log_interaction(t, 1))
    assert len(store) == 1


def test_env_endpoint_and_headers_are_honoured(
    monkeypatch: pytest.MonkeyPatch, store: MemoryStore
) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT and _HEADERS apply when no argument is given."""
    with OTLPReceiver(store, ReceiverConfig(port=0, token="env-token")) as rx:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rx.endpoint.removesuffix("/v1/traces"))
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20env-token")
        _send(build_otlp_exporter(), lambda t: log_interaction(t, 2))
        assert rx.stats().responses == {200: 1}
    assert len(store) == 1


def test_full_url_is_used_as_given(receiver: OTLPReceiver, store: MemoryStore) -> None:
    """An endpoint with a path is not changed."""
    _send(build_otlp_exporter(receiver.endpoint), lambda t: log_interaction(t, 3))
    assert len(store) == 1


def test_http_json_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python SDK has no http/json exporter; asking for it (here via env) says so."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")
    with pytest.raises(ConfigurationError) as info:
        build_otlp_exporter("http://127.0.0.1:4318")
    assert str(info.value) == (
        "OTLP protocol 'http/json' is not supported; use one of http/protobuf, grpc "
        "(the OpenTelemetry Python SDK has no http/json exporter)"
    )


def test_grpc_from_env_reaches_the_receiver_through_rotel(
    monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver, store: MemoryStore, tmp_path: Path
) -> None:
    """OTEL_EXPORTER_OTLP_PROTOCOL=grpc sends over gRPC (to rotel, which forwards to us)."""
    pytest.importorskip(
        "opentelemetry.exporter.otlp.proto.grpc", reason="gRPC exporter extra not installed"
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with run_rotel("forward", receiver.endpoint.removesuffix("/v1/traces"), tmp_path) as rotel:
        exporter = build_otlp_exporter(f"http://127.0.0.1:{rotel.grpc_port}")
        assert type(exporter).__module__.startswith("opentelemetry.exporter.otlp.proto.grpc")
        _send(exporter, _feedback_workload)
        wait_for(lambda: len(store) == 10)


def test_bad_endpoint_is_refused() -> None:
    """An endpoint that is not an http(s) URL is a configuration error."""
    with pytest.raises(ConfigurationError) as info:
        build_otlp_exporter("127.0.0.1:4318")
    assert str(info.value) == (
        "OTLP endpoint '127.0.0.1:4318' must be an http:// or https:// URL, "
        "e.g. http://127.0.0.1:4318"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, True),
        ("", True),
        ("true", True),
        ("SPAN_ONLY", True),
        ("span_and_event", True),
        ("false", False),
        ("0", False),
        ("NO_CONTENT", False),
        ("EVENT_ONLY", False),
    ],
)
def test_capture_content_env_values(value: str | None, expected: bool) -> None:
    """The env values of the GenAI conventions map to capture on/off."""
    environ = {} if value is None else {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value}
    assert capture_content_from_env(environ) is expected


def test_unknown_capture_value_withholds_content(caplog: pytest.LogCaptureFixture) -> None:
    """A value nobody defined turns capture off and says so."""
    with caplog.at_level(logging.WARNING, logger="rlhf_otel.otlp"):
        env = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "maybe"}
        assert capture_content_from_env(env) is False
    assert "message content will not be exported" in caplog.text


def test_unset_env_uses_the_default() -> None:
    """With the variable unset, the caller's default (the logger's capture_content) decides."""
    assert capture_content_from_env({}, default=False) is False


def test_no_content_leaves_when_capture_is_off(store: MemoryStore) -> None:
    """With capture off, messages, comments, reasons and explanations are stripped in transit."""
    sink = InMemorySpanExporter()
    _send(ContentCaptureSpanExporter(sink, capture_content=False), _feedback_workload)
    spans = {s.name: s for s in sink.get_finished_spans()}
    assert len(sink.get_finished_spans()) == 9
    for span in sink.get_finished_spans():
        attrs = span.attributes or {}
        assert A.GEN_AI_INPUT_MESSAGES not in attrs
        assert A.GEN_AI_OUTPUT_MESSAGES not in attrs
        assert A.GEN_AI_EVALUATION_EXPLANATION not in attrs
        assert A.RLHF_FEEDBACK_REASON not in attrs
    assert A.RLHF_FEEDBACK_COMMENT not in (spans["feedback rating"].attributes or {})
    assert (spans["feedback text"].attributes or {})[A.RLHF_FEEDBACK_COMMENT] == ""
    assert (spans["feedback text"].attributes or {})[A.RLHF_FEEDBACK_SENTIMENT] == "negative"
    with OTLPReceiver(store, ReceiverConfig(port=0)) as rx:
        exporter = ContentCaptureSpanExporter(
            build_otlp_exporter(rx.endpoint), capture_content=False
        )
        _send(exporter, _feedback_workload)
        assert rx.stats().spans_rejected == 0
    assert {it.prompt for it in store.scan_interactions()} == {""}
    assert {it.response for it in store.scan_interactions()} == {""}
    text = next(fb for fb in store.scan_feedback() if fb.type.value == "text")
    assert text.data == {"comment": "", "sentiment": "negative"}


def test_capture_on_sends_spans_unchanged() -> None:
    """With capture on, strip is not applied and spans are the same objects."""
    spans = finished_spans(_feedback_workload)
    seen: list[ReadableSpan] = []

    class Keep(SpanExporter):
        def export(self, batch: Sequence[ReadableSpan]) -> SpanExportResult:
            seen.extend(batch)
            return SpanExportResult.SUCCESS

    ContentCaptureSpanExporter(Keep(), capture_content=True).export(spans)
    assert [id(s) for s in seen] == [id(s) for s in spans]


def test_strip_content_removes_legacy_genai_event_content() -> None:
    """Older instrumentations' gen_ai.* events lose their content fields."""

    def emit(tracer: Tracer) -> None:
        with tracer.start_as_current_span(
            "chat x", attributes={"gen_ai.prompt.0.content": "hi"}
        ) as s:
            s.add_event("gen_ai.user.message", {"content": "hi", "gen_ai.system": "openai"})

    (span,) = finished_spans(emit)
    stripped = strip_content(span)
    assert dict(stripped.attributes or {}) == {}
    assert dict(stripped.events[0].attributes or {}) == {"gen_ai.system": "openai"}


def test_redaction_hook_withholds_or_rewrites(caplog: pytest.LogCaptureFixture) -> None:
    """A hook returning None withholds a span; one that raises withholds it and counts it."""
    spans = finished_spans(_feedback_workload)
    sink = InMemorySpanExporter()
    exporter = ContentCaptureSpanExporter(
        sink, capture_content=True, redact=lambda s: None if s.name == "feedback text" else s
    )
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert len(sink.get_finished_spans()) == 8
    assert exporter.dropped() == {"redacted": 1}

    def broken(span: ReadableSpan) -> ReadableSpan:
        raise RuntimeError("bug")

    failing = ContentCaptureSpanExporter(InMemorySpanExporter(), redact=broken)
    with caplog.at_level(logging.ERROR, logger="rlhf_otel.otlp"):
        failing.export(spans[:2])
    assert failing.dropped() == {"redact_error": 2}


def test_text_redaction_applies_to_foreign_genai_spans_only() -> None:
    """Text redactors rewrite other libraries' messages (JSON kept valid), not ours."""

    def emit(tracer: Tracer) -> None:
        log_interaction(tracer, 1)
        with tracer.start_as_current_span(
            "chat other",
            attributes={
                A.GEN_AI_OPERATION_NAME: "chat",
                A.GEN_AI_INPUT_MESSAGES: '[{"role":"user","parts":[{"type":"text",'
                '"content":"mail me at ann@example.com"}]}]',
                "gen_ai.prompt": "key sk-abcdefghijklmnopqrstuvwx",
            },
        ):
            pass

    ours, other = finished_spans(emit)
    hook = text_redaction_hook([redact_secrets])
    assert hook(ours) is ours
    redacted = hook(other)
    assert redacted is not None
    attrs = redacted.attributes or {}
    assert attrs[A.GEN_AI_INPUT_MESSAGES] == (
        '[{"role":"user","parts":[{"type":"text","content":"mail me at [REDACTED:email]"}]}]'
    )
    assert attrs["gen_ai.prompt"] == "key [REDACTED:api_key]"


def test_logger_otlp_export_sends_only_rlhf_spans(store: MemoryStore) -> None:
    """The logger's OTLP path sends interactions and feedback, not the app's other spans."""
    with OTLPReceiver(store, ReceiverConfig(port=0)) as rx:
        provider = TracerProvider()
        logger = create_rlhf_logger(
            backend="memory", tracer_provider=provider, otlp_endpoint=rx.endpoint
        )
        iid = logger.log_interaction("q", "a", model="m")
        logger.log_rating(iid, 5)
        with provider.get_tracer("app").start_as_current_span("GET /"):
            pass
        logger.close()
        wait_for(lambda: len(store) == 2)
        assert rx.stats().spans_received == 2
