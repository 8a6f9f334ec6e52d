"""The app side of the collector tests: spans made with the real mapping, and a direct store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Tracer

from rlhf_otel import RLHFSpanExporter
from rlhf_otel import attributes as A
from rlhf_otel.recording import (
    feedback_links,
    feedback_to_attributes,
    interaction_span_name,
    interaction_to_attributes,
)
from rlhf_otel.records import (
    Feedback,
    FeedbackType,
    Interaction,
    TokenUsage,
    feedback_to_dict,
    format_span_id,
    interaction_to_dict,
)
from rlhf_otel.stores import MemoryStore, Store

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _iid(ctx: Any) -> str:
    return format_span_id(ctx.trace_id, ctx.span_id)


def direct_provider(store: MemoryStore) -> TracerProvider:
    """A provider whose spans also land in ``store`` directly."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RLHFSpanExporter(store)))
    return provider


def log_interaction(tracer: Tracer, n: int, *, user_id: str | None = None) -> str:
    """One interaction span; returns its interaction id."""
    it = Interaction(
        id="unused",
        prompt=f"question {n}: what is {n} squared?",
        response=f"{n * n}, with a unicode flourish: é✓",
        timestamp=T0,
        model="gpt-test",
        provider="openai",
        model_params={"temperature": 0.2, "max_tokens": 64, "seed": n},
        latency_ms=12.5 + n,
        token_usage=TokenUsage(10 + n, 5, 15 + n),
        user_id=user_id or f"user-{n % 3}",
        session_id="session-1",
        context=[{"role": "system", "content": "be brief"}],
        metadata={"n": n, "tags": ["a", "b"]},
        response_id=f"resp-{n}",
        finish_reasons=("stop",),
    )
    with tracer.start_as_current_span(
        interaction_span_name(it.model),
        kind=SpanKind.CLIENT,
        attributes=interaction_to_attributes(it),
    ) as span:
        return _iid(span.get_span_context())


def log_feedback(tracer: Tracer, fb: Feedback) -> None:
    """One feedback span, linked to what it is about."""
    with tracer.start_as_current_span(
        f"feedback {fb.type.value}", attributes=feedback_to_attributes(fb), links=feedback_links(fb)
    ):
        pass


def every_feedback(ids: Sequence[str], prefix: str = "fb") -> list[Feedback]:
    """One feedback of each type about ``ids`` (at least three interactions)."""
    a, b, c = ids[0], ids[1], ids[2]
    return [
        Feedback(
            id=f"{prefix}-binary",
            interaction_id=a,
            type=FeedbackType.BINARY,
            data={"value": "thumbs_up"},
            timestamp=T0,
            user_id="user-0",
            source="web",
        ),
        Feedback(
            id=f"{prefix}-rating",
            interaction_id=a,
            type=FeedbackType.RATING,
            data={"rating": 4, "max_rating": 5, "comment": "good, not great"},
            timestamp=T0,
        ),
        Feedback(
            id=f"{prefix}-text",
            interaction_id=b,
            type=FeedbackType.TEXT,
            data={"comment": "too long", "sentiment": "negative"},
            timestamp=T0,
            session_id="session-1",
            metadata={"page": 2},
        ),
        Feedback(
            id=f"{prefix}-multi",
            interaction_id=b,
            type=FeedbackType.MULTI_DIMENSIONAL,
            data={
                "dimensions": {"accuracy": 0.9, "tone": 0.5},
                "weights": {"accuracy": 2.0, "tone": 1.0},
                "overall_comment": "ok",
            },
            timestamp=T0,
        ),
        Feedback(
            id=f"{prefix}-compare",
            interaction_id=c,
            type=FeedbackType.COMPARATIVE,
            data={
                "preferred_response_id": c,
                "compared_response_ids": [a, b],
                "reason": "shorter",
                "confidence_level": 0.75,
            },
            timestamp=T0,
            target_ids=(c, a, b),
        ),
    ]


def log_feedback_event(tracer: Tracer, n: int) -> str:
    """An interaction span that receives a rating while it is still open (an event)."""
    it = Interaction(id="unused", prompt=f"p{n}", response=f"r{n}", timestamp=T0, model="gpt-test")
    with tracer.start_as_current_span(
        interaction_span_name(it.model),
        kind=SpanKind.CLIENT,
        attributes=interaction_to_attributes(it),
    ) as span:
        iid = _iid(span.get_span_context())
        fb = Feedback(
            id=f"event-{n}",
            interaction_id=iid,
            type=FeedbackType.RATING,
            data={"rating": 2, "max_rating": 5, "comment": None},
            timestamp=T0,
        )
        span.add_event(A.RLHF_FEEDBACK_EVENT, attributes=feedback_to_attributes(fb))
    return iid


def log_foreign_genai(tracer: Tracer) -> None:
    """A GenAI-convention span of another instrumentation library (no rlhf.* attributes)."""
    with tracer.start_as_current_span(
        "chat other-model",
        kind=SpanKind.CLIENT,
        attributes={
            A.GEN_AI_OPERATION_NAME: "chat",
            A.GEN_AI_SYSTEM: "anthropic",
            A.GEN_AI_REQUEST_MODEL: "other-model",
            A.GEN_AI_USAGE_INPUT_TOKENS: 7,
            A.GEN_AI_USAGE_OUTPUT_TOKENS: 3,
        },
    ):
        pass


def log_ordinary(tracer: Tracer, n: int) -> None:
    """An ordinary HTTP span that carries no record."""
    with tracer.start_as_current_span(
        "GET /health", kind=SpanKind.SERVER, attributes={"http.request.method": "GET", "n": n}
    ):
        pass


def log_workload(tracer: Tracer) -> None:
    """Interactions, every feedback type, an event, a foreign GenAI span, ordinary spans."""
    ids = [log_interaction(tracer, n) for n in range(4)]
    for fb in every_feedback(ids):
        log_feedback(tracer, fb)
    log_feedback_event(tracer, 9)
    log_foreign_genai(tracer)
    for n in range(3):
        log_ordinary(tracer, n)


def stored_records(store: Store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every record of ``store`` in the versioned schema (the JSONL line format), by id."""
    return (
        [interaction_to_dict(it) for it in sorted(store.scan_interactions(), key=lambda r: r.id)],
        [feedback_to_dict(fb) for fb in sorted(store.scan_feedback(), key=lambda r: r.id)],
    )
