"""Redaction before any sink, size limits with markers, sampling by trace."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rlhf_otel import RLHFLogger, create_rlhf_logger, redact_secrets, trace_llm


def test_builtin_redactor() -> None:
    """E-mails, API keys and Luhn-valid card numbers are replaced; other numbers survive."""
    text = (
        "mail bob@example.com key sk-proj-abcdefghijklmnop1234 card 4111 1111 1111 1111 "
        "order 1234567890123 token=abcd1234efgh"
    )
    assert redact_secrets(text) == (
        "mail [REDACTED:email] key [REDACTED:api_key] card [REDACTED:card] order "
        "1234567890123 [REDACTED:api_key]"
    )
    assert redact_secrets(redact_secrets(text)) == redact_secrets(text)


@pytest.fixture
def private_logger(tracer_provider: TracerProvider) -> Iterator[RLHFLogger]:
    lg = create_rlhf_logger(
        backend="memory",
        redact=[redact_secrets],
        max_prompt_chars=80,
        tracer_provider=tracer_provider,
    )
    yield lg
    lg.close()


def test_redaction_reaches_spans_and_store(
    private_logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """Redacted text is all that any sink sees: the span attributes and the stored record."""
    iid = private_logger.log_interaction(
        "my mail is eve@corp.io",
        "noted",
        context=[{"role": "user", "content": "eve@corp.io"}],
        metadata={"contact": "eve@corp.io"},
    )
    private_logger.log_text_feedback(iid, "reach me at eve@corp.io")
    private_logger.flush()
    everything = json.dumps(
        [dict(s.attributes or {}) for s in span_exporter.get_finished_spans()], default=str
    )
    assert "eve@corp.io" not in everything
    it = private_logger.get_interaction(iid)
    assert it is not None
    assert it.prompt == "my mail is [REDACTED:email]"
    assert it.metadata == {"contact": "[REDACTED:email]"}
    (fb,) = private_logger.get_feedback_for_interaction(iid)
    assert fb.data["comment"] == "reach me at [REDACTED:email]"


def test_decorator_applies_the_loggers_redaction(private_logger: RLHFLogger) -> None:
    """Decorated calls go through the same redaction."""

    @trace_llm(logger=private_logger)
    def answer(prompt: str) -> str:
        return "sure, bob@x.org"

    answer("write to ann@y.org")
    import rlhf_otel

    it = private_logger.get_interaction(rlhf_otel.last_interaction_id() or "")
    assert it is not None
    assert (it.prompt, it.response) == ("write to [REDACTED:email]", "sure, [REDACTED:email]")


def test_failing_redactor_never_lets_text_through(tracer_provider: TracerProvider) -> None:
    """A redactor that raises replaces the text with a marker and counts it."""

    def broken(text: str) -> str:
        raise RuntimeError("regex exploded")

    with create_rlhf_logger(
        backend="memory", redact=[broken], tracer_provider=tracer_provider
    ) as lg:
        iid = lg.log_interaction("secret", "also secret")
        it = lg.get_interaction(iid)
        assert it is not None
        assert (it.prompt, it.response) == ("[REDACTION FAILED]",) * 2


def test_size_limits_truncate_with_marker(private_logger: RLHFLogger) -> None:
    """A prompt over the limit is cut with a visible marker and counted, never rejected."""
    iid = private_logger.log_interaction("x" * 200, "ok")
    it = private_logger.get_interaction(iid)
    assert it is not None
    assert len(it.prompt) == 80
    assert it.prompt.endswith("…[truncated 120 chars]")
    assert private_logger.delivery()["truncated"] == 1


def test_context_message_limit(tracer_provider: TracerProvider) -> None:
    """Only the most recent context messages are kept, with a note of how many were omitted."""
    with create_rlhf_logger(
        backend="memory", max_context_messages=2, tracer_provider=tracer_provider
    ) as lg:
        ctx = [{"role": "user", "content": str(n)} for n in range(5)]
        it = lg.get_interaction(lg.log_interaction("q", "a", context=ctx))
        assert it is not None
        assert [m["content"] for m in it.context] == ["…[3 earlier messages omitted]", "3", "4"]


def test_capture_content_off_keeps_text_out(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    """capture_content=False records no prompt, response or messages."""
    with create_rlhf_logger(
        backend="memory", capture_content=False, tracer_provider=tracer_provider
    ) as lg:
        it = lg.get_interaction(lg.log_interaction("secret prompt", "secret answer"))
        assert it is not None
        assert (it.prompt, it.response) == ("", "")
        (span,) = span_exporter.get_finished_spans()
        assert "gen_ai.input.messages" not in (span.attributes or {})


def test_sampling_keeps_whole_traces_and_all_feedback(tracer_provider: TracerProvider) -> None:
    """sample_rate keeps about that share of interactions, decided per trace; feedback is kept."""
    with create_rlhf_logger(
        backend="memory", memory_max_entries=None, sample_rate=0.25, tracer_provider=tracer_provider
    ) as lg:
        ids = [lg.log_interaction("q", "a") for _ in range(2000)]
        for iid in ids[:100]:
            lg.log_binary_feedback(iid, True)
        lg.flush()
        d = lg.delivery()
        kept = d["stored"] - 100
        assert 400 <= kept <= 600
        assert d["sampled_out"] == 2000 - kept
        assert len(lg.query_feedback()) == 100
