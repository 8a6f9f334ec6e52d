"""Spans nobody would see: the ids and sampling decision of a span, without the span.

A span that the recording handler makes only as a projection of a record it already put on
its queue is seen by the tracer provider's span processors and by no one else. When every
one of them ignores such spans (each logger's ``RecordSpanProcessor`` does: the record is
stored already), building the span, validating its attributes and ending it is work whose
result nobody reads; it is most of what ``log_interaction`` and ``log_rating`` cost. Then
the handler asks the tracer's own sampler and id generator what the span would have been
(its trace id from the current span, its span id, whether it would record) and stops there.
The moment a processor of any other kind is added (an OTLP export, a test's in-memory
exporter), spans are made again, from the next record on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.trace import Link, SpanKind, Tracer, get_current_span

__all__ = ["IGNORES_RECORDED_SPANS", "SpanIds", "UnseenSpans"]

IGNORES_RECORDED_SPANS: Final = "ignores_recorded_spans"
"""The attribute (``True``) by which a span processor says it ignores every span whose
record a record queue of this process took (``RecordSpanProcessor``)."""


class SpanIds(NamedTuple):
    """What a span would have been: its ids and whether the sampler would record it."""

    trace_id: int
    span_id: int
    recording: bool


class UnseenSpans:
    """Tells whether a tracer's spans reach anyone, and what an unseen span would have been.

    Args:
        tracer: the handler's tracer. Only the SDK's own ``Tracer`` is read; for any other
            (a proxy, another SDK) spans are always made.
    """

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer if type(tracer) is SdkTracer else None
        # The SDK's multi processor replaces its tuple of processors on every
        # add_span_processor, so comparing the tuple's identity notices a new one at once.
        self._seen: object = None
        self._unseen = False

    def ids(
        self,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, Any],
        links: Sequence[Link] = (),
    ) -> SpanIds | None:
        """The span's ids and sampling decision if no processor would read the span, else
        ``None`` (make the span). The sampler sees what ``start_span`` would show it."""
        tracer = self._tracer
        if tracer is None:
            return None
        processors = getattr(tracer.span_processor, "_span_processors", None)
        if processors is not self._seen:
            self._seen = processors
            self._unseen = isinstance(processors, tuple) and all(
                getattr(p, IGNORES_RECORDED_SPANS, False) is True for p in processors
            )
        if not self._unseen:
            return None
        parent = get_current_span().get_span_context()
        trace_id = parent.trace_id if parent.is_valid else tracer.id_generator.generate_trace_id()
        span_id = tracer.id_generator.generate_span_id()
        is_enabled = getattr(tracer, "_is_enabled", None)  # a disabled tracer records nothing
        if is_enabled is not None and not is_enabled():
            return SpanIds(trace_id, span_id, False)
        decision = tracer.sampler.should_sample(
            None, trace_id, name, kind, attributes, links
        ).decision
        return SpanIds(trace_id, span_id, decision.is_recording())  # type: ignore[no-untyped-call]
