"""Spans only our own processors would see are not made; their records are the same."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind, TraceFlags
from opentelemetry.util.types import Attributes

from rlhf_otel import RLHFLogger, create_rlhf_logger
from rlhf_otel.pipeline import RecordQueue, RecordSpanProcessor
from rlhf_otel.recording import InteractionDraft, RecordingHandler
from rlhf_otel.records import Feedback, Interaction, feedback_to_dict, interaction_to_dict
from rlhf_otel.stores import MemoryStore


class CountingIds(IdGenerator):
    """Ids 1, 2, 3... so a record's ids say which ids the provider handed out."""

    def __init__(self) -> None:
        self.next = 0

    def generate_span_id(self) -> int:
        self.next += 1
        return self.next

    def generate_trace_id(self) -> int:
        self.next += 1
        return self.next << 64


class Recorder(Sampler):
    """Samples like ``ALWAYS_ON`` (or drops everything) and remembers what it was shown."""

    def __init__(self, decision: Decision = Decision.RECORD_AND_SAMPLE) -> None:
        self.decision = decision
        self.seen: list[tuple[str, SpanKind | None, dict[str, Any], int]] = []

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        self.seen.append((name, kind, dict(attributes or {}), len(links or ())))
        return SamplingResult(self.decision, attributes)

    def get_description(self) -> str:
        return "Recorder"


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    p = TracerProvider(id_generator=CountingIds(), sampler=Recorder())
    yield p
    p.shutdown()


@pytest.fixture
def logger(provider: TracerProvider, store: MemoryStore) -> Iterator[RLHFLogger]:
    lg = create_rlhf_logger(store=store, tracer_provider=provider)
    yield lg
    lg.close()


def _records(logger: RLHFLogger, store: MemoryStore) -> tuple[list[Interaction], list[Feedback]]:
    assert logger.flush()
    return list(store.scan_interactions()), list(store.scan_feedback())


def test_ids_come_from_the_providers_id_generator(logger: RLHFLogger, store: MemoryStore) -> None:
    """An unseen span's record gets the ids the provider's id generator hands out."""
    iid = logger.log_interaction("q", "a", model="m")
    fid = logger.log_rating(iid, 4)
    (interaction,), (feedback,) = _records(logger, store)
    assert iid == f"{1 << 64:032x}-{2:016x}" == interaction.id
    assert (interaction.trace_id, interaction.span_id) == (f"{1 << 64:032x}", f"{2:016x}")
    assert (feedback.id, feedback.span_id) == (fid, f"{4:016x}")


def test_sampler_sees_what_start_span_would_show_it(
    logger: RLHFLogger, provider: TracerProvider
) -> None:
    """The provider's sampler gets the span's name, kind, attributes and links, made or not."""
    sampler = provider.sampler
    assert isinstance(sampler, Recorder)
    iid = logger.log_interaction("q", "a", model="m")
    logger.log_comparative_feedback(iid, [logger.log_interaction("q", "b", model="n")])
    unseen = list(sampler.seen)
    sampler.seen.clear()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    iid = logger.log_interaction("q", "a", model="m")
    logger.log_comparative_feedback(iid, [logger.log_interaction("q", "b", model="n")])

    def shape(seen: list[tuple[str, SpanKind | None, dict[str, Any], int]]) -> list[Any]:
        return [(name, kind, sorted(attrs), links) for name, kind, attrs, links in seen]

    assert shape(unseen) == shape(sampler.seen)
    assert [s.name for s in exporter.get_finished_spans()] == [
        "chat m",
        "chat n",
        "feedback comparative",
    ]


def test_a_dropping_sampler_counts_the_records_as_not_recorded(
    provider: TracerProvider, store: MemoryStore
) -> None:
    """Unseen or not, what the sampler drops is counted as dropped with its reason."""
    dropping = TracerProvider(sampler=Recorder(Decision.DROP))
    lg = create_rlhf_logger(store=store, tracer_provider=dropping)
    lg.log_rating(lg.log_interaction("q", "a", model="m"), 5)
    assert lg.flush()
    delivery = lg.delivery()
    lg.close()
    dropping.shutdown()
    assert len(store) == 0
    assert delivery["dropped"] == {"not_recorded_by_provider_sampler": 2}


def test_the_current_span_is_the_parent(store: MemoryStore) -> None:
    """The current span is the parent: its trace is joined, its sampling decision followed."""
    provider = TracerProvider(sampler=ParentBased(ALWAYS_ON))
    lg = create_rlhf_logger(store=store, tracer_provider=provider)
    user = TracerProvider().get_tracer("app")
    with user.start_as_current_span("request") as parent:
        iid = lg.log_interaction("q", "a", model="m")
    unsampled = trace.NonRecordingSpan(
        trace.SpanContext(7 << 64, 9, is_remote=True, trace_flags=TraceFlags(0))
    )
    with trace.use_span(unsampled):
        lg.log_interaction("q", "dropped", model="m")
    assert lg.flush()
    delivery = lg.delivery()
    lg.close()
    provider.shutdown()
    (interaction,) = store.scan_interactions()
    assert interaction.id == iid
    assert interaction.trace_id == f"{parent.get_span_context().trace_id:032x}"
    assert delivery["dropped"] == {"not_recorded_by_provider_sampler": 1}


def test_a_processor_added_later_gets_the_spans_from_the_next_record_on(
    logger: RLHFLogger, provider: TracerProvider, store: MemoryStore
) -> None:
    """A processor added later gets spans from the next record on, with the records' ids."""
    logger.log_interaction("q", "before", model="m")
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    iid = logger.log_interaction("q", "after", model="m")
    fid = logger.log_binary_feedback(iid, True)
    interactions, (feedback,) = _records(logger, store)
    assert [i.response for i in interactions] == ["before", "after"]
    span, fb_span = exporter.get_finished_spans()
    ctx = span.get_span_context()
    assert iid == f"{ctx.trace_id:032x}-{ctx.span_id:016x}"
    assert (feedback.id, feedback.span_id) == (fid, f"{fb_span.get_span_context().span_id:016x}")


def test_records_are_the_same_made_or_unseen(store: MemoryStore) -> None:
    """The same calls store the same records whether their spans are made or not."""
    stores: list[MemoryStore] = []
    for watched in (False, True):
        provider = TracerProvider()
        if watched:
            provider.add_span_processor(SpanProcessor())
        target = MemoryStore(max_entries=None)
        lg = create_rlhf_logger(store=target, tracer_provider=provider)
        a = lg.log_interaction(
            "q", "a", model="gpt-4o", latency=12.0, token_usage={"prompt": 3, "completion": 1},
            user_id="u1", context=[{"role": "system", "content": "be brief"}],
            metadata={"k": 1},
        )  # fmt: skip
        b = lg.log_interaction("q", "b", model="claude-3-5-sonnet", user_id="u2")
        lg.log_rating(a, 3, "ok", user_id="r1")
        lg.log_text_feedback(b, "too long", "negative", user_id="r2")
        lg.log_multi_dimensional_feedback(a, {"accuracy": 4, "style": 2}, user_id="r3")
        lg.log_comparative_feedback(b, [a], reason="shorter", user_id="r4")
        assert lg.flush()
        lg.close()
        provider.shutdown()
        stores.append(target)

    def plain(records: Any) -> list[dict[str, Any]]:
        skip = {
            "id",
            "timestamp",
            "trace_id",
            "span_id",
            "interaction_id",
            "target_ids",
            "session_id",
        }
        out = []
        for r in records:
            d = interaction_to_dict(r) if isinstance(r, Interaction) else feedback_to_dict(r)
            data = d.get("data") or {}
            for key in ("preferred_response_id", "compared_response_ids"):
                data.pop(key, None)
            out.append({k: v for k, v in d.items() if k not in skip})
        return out

    unseen, made = stores
    assert plain(unseen.scan_interactions()) == plain(made.scan_interactions())
    assert plain(unseen.scan_feedback()) == plain(made.scan_feedback())
    assert len(list(unseen.scan_feedback())) == 4


def test_a_handler_without_a_queue_always_makes_its_span(store: MemoryStore) -> None:
    """A handler without a queue makes its span for a logger's processor to store."""
    provider = TracerProvider()
    queue = RecordQueue(store, batching=False)
    provider.add_span_processor(RecordSpanProcessor(queue))
    handler = RecordingHandler(provider.get_tracer("t"))
    iid = handler.record(InteractionDraft(prompt="q", response="a", model="m"))
    provider.shutdown()
    (interaction,) = store.scan_interactions()
    assert (interaction.id, interaction.response) == (iid, "a")
