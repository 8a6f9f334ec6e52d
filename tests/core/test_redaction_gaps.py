"""Exceptions of traced functions, ids, sources and metadata keys pass the redactors and limits."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from rlhf_otel import RLHFLogger, ValidationError, create_rlhf_logger, redact_secrets, trace_llm

SECRET = "sk-proj-abcdefghijklmnop1234"


@pytest.fixture
def private_logger(tracer_provider: TracerProvider) -> Iterator[RLHFLogger]:
    lg = create_rlhf_logger(
        backend="memory",
        redact=[redact_secrets],
        max_text_chars=300,
        tracer_provider=tracer_provider,
    )
    yield lg
    lg.close()


def _everything(span_exporter: InMemorySpanExporter) -> str:
    """Every attribute, event, link and status text of the finished spans, as one string."""
    parts = []
    for s in span_exporter.get_finished_spans():
        parts.append(dict(s.attributes or {}))
        parts.extend(dict(e.attributes or {}) for e in s.events)
        parts.append(s.status.description)
    return json.dumps(parts, default=str)


def test_exception_message_stacktrace_and_status_are_redacted(
    private_logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """A secret in a traced function's exception reaches no span field; the error stays."""

    @trace_llm(logger=private_logger)
    def call(prompt: str) -> str:
        raise RuntimeError(f"upstream refused key {SECRET} for bob@example.com")

    with pytest.raises(RuntimeError, match="upstream refused key sk-proj"):
        call("hi")
    (span,) = span_exporter.get_finished_spans()
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "RuntimeError"
    assert event.attributes["exception.message"] == (
        "upstream refused key [REDACTED:api_key] for [REDACTED:email]"
    )
    stack = str(event.attributes["exception.stacktrace"])
    assert stack.endswith(
        "\nRuntimeError: upstream refused key [REDACTED:api_key] for [REDACTED:email]\n"
    )
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == (
        "upstream refused key [REDACTED:api_key] for [REDACTED:email]"
    )
    everything = _everything(span_exporter)
    assert SECRET not in everything
    assert "bob@example.com" not in everything


def test_exception_text_obeys_the_size_limit(
    private_logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """A 10,000-character exception message is cut to max_text_chars with the marker."""

    @trace_llm(logger=private_logger)
    def call(prompt: str) -> str:
        raise ValueError("x" * 10_000)

    with pytest.raises(ValueError, match="^x{10000}$"):
        call("hi")
    (span,) = span_exporter.get_finished_spans()
    attrs = span.events[0].attributes
    assert attrs is not None
    message = str(attrs["exception.message"])
    assert len(message) == 300
    assert message.endswith("…[truncated 9700 chars]")
    stack = str(attrs["exception.stacktrace"])
    assert len(stack) == 300
    assert stack.startswith("[truncated ")
    assert stack.endswith("x" * 200 + "\n")
    assert span.status.description == message[:200]


def test_ids_source_and_metadata_keys_are_redacted(
    private_logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """user_id, session_id, source and metadata keys pass the redactors on spans and in store."""
    iid = private_logger.log_interaction(
        "q",
        "a",
        user_id="eve@corp.io",
        session_id=f"s-{SECRET}",
        metadata={"eve@corp.io": {"to bob@example.com": 1}},
    )
    fid = private_logger.log_rating(
        iid, 4, user_id="eve@corp.io", source="mail:bob@example.com", metadata={"bob@x.org": 1}
    )
    private_logger.flush()
    everything = _everything(span_exporter)
    for secret in ("eve@corp.io", SECRET, "bob@example.com", "bob@x.org"):
        assert secret not in everything
    it = private_logger.get_interaction(iid)
    fb = private_logger.get_feedback(fid)
    assert it is not None
    assert fb is not None
    assert (it.user_id, it.session_id) == ("[REDACTED:email]", "s-[REDACTED:api_key]")
    assert it.metadata == {"[REDACTED:email]": {"to [REDACTED:email]": 1}}
    assert (fb.user_id, fb.source, fb.metadata) == (
        "[REDACTED:email]",
        "mail:[REDACTED:email]",
        {"[REDACTED:email]": 1},
    )


@pytest.mark.parametrize("field", ["user_id", "session_id", "source"])
def test_oversized_ids_are_refused(logger: RLHFLogger, field: str) -> None:
    """A 1 MB user id, session id or source raises ValidationError naming the 256 limit."""
    iid = logger.log_interaction("q", "a")
    with pytest.raises(ValidationError) as exc:
        logger.log_binary_feedback(iid, True, **{field: "u" * 1_000_000})
    assert str(exc.value) == f"{field} is 1,000,000 characters long; at most 256 are allowed"
    if field != "source":
        with pytest.raises(ValidationError, match="at most 256 are allowed"):
            logger.log_interaction("q", "a", **{field: "u" * 257})
    assert logger.delivery()["accepted"] == 1


def test_session_user_id_is_limited(logger: RLHFLogger) -> None:
    """start_session and session() refuse a user id over 256 characters."""
    with pytest.raises(ValidationError, match="user_id is 300 characters long"):
        logger.start_session(user_id="u" * 300)
    with (
        pytest.raises(ValidationError, match="user_id is 300 characters long"),
        logger.session(user_id="u" * 300),
    ):
        pass


@pytest.mark.parametrize(
    "metadata",
    [{"big": "v" * 10_000_000}, {"k" * 70_000: 1}, {"many": ["x" * 1000] * 100}],
)
def test_oversized_metadata_is_refused(logger: RLHFLogger, metadata: dict[str, object]) -> None:
    """Metadata beyond 65,536 characters of keys and strings raises ValidationError."""
    iid = logger.log_interaction("q", "a")
    message = "metadata is too large: more than 65,536 characters of keys and strings in all"
    with pytest.raises(ValidationError) as exc:
        logger.log_rating(iid, 3, metadata=metadata)
    assert str(exc.value) == message
    with pytest.raises(ValidationError, match="metadata is too large"):
        logger.log_interaction("q", "a", metadata=metadata)
    assert logger.delivery()["accepted"] == 1
