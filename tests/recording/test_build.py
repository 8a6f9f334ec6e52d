"""The record our producers build once equals decoding their span's attributes."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rlhf_otel import RLHFLogger, trace_llm
from rlhf_otel.recording import records_from_span
from rlhf_otel.stores import MemoryStore

CASES: list[dict[str, Any]] = [
    {},
    {"model": "m", "provider": "p", "latency": 12.5, "token_usage": {"prompt": 1, "completion": 2}},
    {"model_params": {"temperature": 0.2, "max_tokens": 9, "stop": ("a", "b"), "top_p": "x"}},
    {"metadata": {"when": __import__("datetime").date(2026, 1, 2), "n": (1, 2), "ok": True}},
    {
        "context": [
            {"role": "system", "content": "s"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "c1", "name": "f", "arguments": "{}"}],
            },
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
        ]
    },
    {"finish_reasons": ["length"], "response_id": "r-1", "user_id": "u", "session_id": "s"},
]


@pytest.mark.parametrize("kwargs", CASES)
def test_built_interaction_matches_decoding(
    logger: RLHFLogger,
    store: MemoryStore,
    span_exporter: InMemorySpanExporter,
    kwargs: dict[str, Any],
) -> None:
    """For each kind of input the stored record equals the record decoded from the span."""
    iid = logger.log_interaction("prompt text", "response text", **kwargs)
    logger.flush()
    stored = store.get_interaction(iid)
    (span,) = span_exporter.get_finished_spans()
    decoded, _ = records_from_span(span)
    assert stored == decoded


def test_built_feedback_matches_decoding(
    logger: RLHFLogger, store: MemoryStore, span_exporter: InMemorySpanExporter
) -> None:
    """Every feedback type, as built and stored, equals its decoded span."""
    iid = logger.log_interaction("q", "a")
    other = logger.log_interaction("q", "b")
    ids = [
        logger.log_binary_feedback(iid, False, metadata={"x": (1,)}),
        logger.log_rating(iid, 3.5, "meh", max_rating=7),
        logger.log_text_feedback(iid, "hm", None, source="api"),
        logger.log_multi_dimensional_feedback(iid, {"a": 1.5, "b": 2}, weights={"a": 1, "b": 3}),
        logger.log_comparative_feedback(other, [iid], confidence_level=0.25),
    ]
    logger.flush()
    spans = span_exporter.get_finished_spans()[2:]
    for fid, span in zip(ids, spans, strict=True):
        _, (decoded,) = records_from_span(span)
        assert store.get_feedback(fid) == decoded


def test_decorated_call_record_matches_decoding(
    logger: RLHFLogger, store: MemoryStore, span_exporter: InMemorySpanExporter
) -> None:
    """A decorated call's stored record equals the record decoded from its span."""

    @trace_llm(model="m")
    def chat(messages: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 1},
            "id": "x",
        }

    chat([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
    logger.flush()
    (span,) = span_exporter.get_finished_spans()
    decoded, _ = records_from_span(span)
    assert decoded is not None
    assert store.get_interaction(decoded.id) == decoded
