"""gen_ai.provider.name on every interaction span, and the record's provider, on each path
that records one without being told the provider (decorator, log_interaction, record)."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import rlhf_otel
from rlhf_otel import RLHFLogger, trace_llm
from rlhf_otel.recording import InteractionDraft


def _provider_attrs(span_exporter: InMemorySpanExporter) -> list[object]:
    return [
        (s.attributes or {}).get("gen_ai.provider.name")
        for s in span_exporter.get_finished_spans()
        if (s.attributes or {}).get("rlhf.record.kind") == "interaction"
    ]


def test_decorator_infers_the_provider(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """@trace_llm(model=...) with no provider: the span and the record name the family."""

    @trace_llm(model="claude-3-5-haiku")
    def answer(prompt: str) -> str:
        return prompt.upper()

    answer("hi")
    iid = rlhf_otel.last_interaction_id()
    assert iid is not None
    it = logger.get_interaction(iid)
    assert it is not None
    assert it.provider == "anthropic"
    assert _provider_attrs(span_exporter) == ["anthropic"]


def test_log_interaction_infers_the_provider(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """log_interaction(model="gpt-4o") with no provider: span and record say openai."""
    iid = logger.log_interaction("Q?", "A.", model="gpt-4o")
    it = logger.get_interaction(iid)
    assert it is not None
    assert it.provider == "openai"
    assert _provider_attrs(span_exporter) == ["openai"]


def test_log_interaction_without_model_says_unknown(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """No model and no provider: the documented fallback 'unknown' is still set."""
    iid = logger.log_interaction("Q?", "A.")
    it = logger.get_interaction(iid)
    assert it is not None
    assert it.provider == "unknown"
    assert _provider_attrs(span_exporter) == ["unknown"]


def test_record_infers_the_provider(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """RecordingHandler.record() with a draft lacking a provider infers it like start()."""
    draft = InteractionDraft(prompt="Q?", response="A.", model="gemini-2.0")
    iid = logger.recording.record(draft)
    it = logger.get_interaction(iid)
    assert it is not None
    assert it.provider == "gcp.gemini"
    assert _provider_attrs(span_exporter) == ["gcp.gemini"]
