"""RLHFSpanExporter: spans we did not record ourselves (other libraries' GenAI spans, our
spans from a process without a record queue) into store records."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from rlhf_otel import attributes as A
from rlhf_otel._counters import DropCounter
from rlhf_otel._redact import ContentPolicy
from rlhf_otel.pipeline._queue import recorded_here, write_records
from rlhf_otel.recording import (
    Assembled,
    EventView,
    ReadableSpanLike,
    SpanRecords,
    TraceAssembler,
    carries_records,
    decode_span,
    is_foreign,
)
from rlhf_otel.records import Feedback, Interaction
from rlhf_otel.stores import Store, store_flush

__all__ = ["RLHFSpanExporter", "redacted", "span_records"]

_log = logging.getLogger("rlhf_otel")
# Traces whose other-library spans are on their way: their other spans are wanted too.
_FOREIGN_TRACES = 10_000


def span_records(span: ReadableSpanLike, policy: ContentPolicy | None = None) -> SpanRecords:
    """The records a span we did not record ourselves carries (``decode_span``); a foreign
    GenAI span's texts pass ``policy`` (ours were redacted when they were captured).

    Raises:
        KeyError, ValueError, TypeError: the span claims to be ours but is malformed.
    """
    found = decode_span(span)
    interaction = found.interaction
    if (
        interaction is not None
        and policy is not None
        and A.RLHF_RECORD_KIND not in (span.attributes or {})
    ):
        found.interaction = redacted(interaction, policy)
    return found


def redacted(it: Interaction, policy: ContentPolicy) -> Interaction:
    """A foreign interaction's texts through ``policy``."""
    return replace(
        it,
        prompt=policy.prompt(it.prompt),
        response=policy.response(it.response),
        context=policy.context(it.context),
    )


class RLHFSpanExporter(SpanExporter):
    """Turns interaction and feedback spans into records and writes them to a store.

    Spans that are neither (HTTP server spans, database spans, ...) are ignored, and so
    are spans whose records a record queue of this process already took (marked
    ``rlhf.record.queue``, see ``RecordQueue``): a record is stored once. GenAI spans of
    other instrumentation libraries are stored as interactions; their text passes
    ``redact`` first (ours was redacted when it was captured).

    Args:
        store: where records go; the exporter owns it and closes it on ``shutdown``.
        redact: redactors for spans that rlhf-otel did not capture itself.
        sample_rate: share of traces whose interactions are kept (by trace id).
        drops: where lost records are counted.
        on_stored: called with the number of records each successful write stored.
    """

    def __init__(
        self,
        store: Store,
        *,
        redact: Sequence[Callable[[str], str]] = (),
        sample_rate: float = 1.0,
        drops: DropCounter | None = None,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self._policy = ContentPolicy(redact) if redact else None
        self._threshold = int(sample_rate * (1 << 64))
        self._sample_all = sample_rate >= 1.0
        self.drops = drops if drops is not None else DropCounter()
        self.sampled_out = 0
        self.stored = 0
        self.skipped = DropCounter()
        """Spans of other libraries that a dialect knows but that hold no interaction
        (embeddings, retrievers, tools, shapes no dialect can read), by reason."""
        self.assembler = TraceAssembler(self._decode_foreign, self._settled)
        self._foreign_traces: dict[int, None] = {}
        """Holds other libraries' spans until their trace settles (see docs/dialects.md)."""
        self._on_stored = on_stored
        self._closed = False
        self._lock = threading.Lock()

    def _convert(
        self, spans: Sequence[ReadableSpanLike]
    ) -> tuple[list[Interaction], list[Feedback], int, int]:
        interactions: list[Interaction] = []
        feedback: list[Feedback] = []
        sampled = malformed = 0
        # Spans of other libraries settle per trace (outermost span, logs joined).
        held: list[tuple[ReadableSpanLike, bool]] = []
        for span in spans:
            if recorded_here(span.attributes):
                continue
            try:
                if is_foreign(span):
                    held.append((span, True))
                    continue
                held.append((span, False))
                found = span_records(span, self._policy)
                interaction, fbs = found.interaction, found.feedback
            except Exception:
                _log.warning("span %r is not a well-formed rlhf span; dropped", span.name)
                malformed += 1
                continue
            if interaction is not None:
                if not self._sample_all and self._sampled_out(interaction):
                    sampled += 1
                else:
                    interactions.append(interaction)
            feedback.extend(fbs)
        settled = self.assembler.spans(held)
        n, foreign = self._admit(settled.interactions)
        sampled += n
        interactions.extend(foreign)
        feedback = self.assembler.feedback(feedback) + settled.feedback
        return interactions, feedback, sampled, malformed

    def wants(self, span: ReadableSpanLike) -> bool:
        """Whether a processor should hand ``span`` over: it carries records, or it belongs
        to a trace whose spans of other libraries wait for their root (its shape)."""
        traces = self._foreign_traces
        if carries_records(span):
            if is_foreign(span):
                traces[span.get_span_context().trace_id] = None
                if len(traces) > _FOREIGN_TRACES:
                    traces.pop(next(iter(traces)), None)
            return True
        if not traces:
            return False
        trace_id = span.get_span_context().trace_id
        if trace_id not in traces:
            return False
        parent = getattr(span, "parent", None)
        if parent is None or parent.is_remote:
            traces.pop(trace_id, None)
        return True

    def _decode_foreign(
        self, span: ReadableSpanLike, joined: Sequence[EventView]
    ) -> tuple[Interaction | None, str | None]:
        found = decode_span(span, joined=joined)
        if found.skipped is not None:
            self.skipped.add(found.skipped)
        return found.interaction, found.kind

    def _admit(self, interactions: Sequence[Interaction]) -> tuple[int, list[Interaction]]:
        """(sampled out, kept) of foreign interactions, kept ones redacted."""
        kept: list[Interaction] = []
        sampled = 0
        for it in interactions:
            if not self._sample_all and self._sampled_out(it):
                sampled += 1
            else:
                kept.append(it if self._policy is None else redacted(it, self._policy))
        return sampled, kept

    def _settled(self, settled: Assembled) -> None:
        """Records the assembler settled on its own (a wait ran out, logs arrived)."""
        sampled, kept = self._admit(settled.interactions)
        stored, lost = 0, None
        if kept or settled.feedback:
            if self._closed:
                lost = ("exporter_shutdown", len(kept) + len(settled.feedback))
            else:
                stored, lost = write_records(self.store, kept, settled.feedback)
        with self._lock:
            self.sampled_out += sampled
            self.stored += stored
            if lost is not None:
                self.drops.add(*lost)
        if stored and self._on_stored is not None:
            self._on_stored(stored)

    def settle_logs(self, records: Sequence[tuple[int, int, EventView]]) -> None:
        """Join GenAI log records to their spans (``RLHFLogRecordExporter`` calls this)."""
        self._settled(self.assembler.logs(records))

    def _sampled_out(self, interaction: Interaction) -> bool:
        trace_id = int(interaction.trace_id or "0", 16)
        return (trace_id & 0xFFFFFFFFFFFFFFFF) >= self._threshold

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write the records of ``spans``; failure is a result, never an exception."""
        sampled = malformed = stored = 0
        lost: tuple[str, int] | None = None
        try:
            interactions, feedback, sampled, malformed = self._convert(spans)
            n = len(interactions) + len(feedback)
            if self._closed:
                lost = ("exporter_shutdown", n) if n else None
            else:
                stored, lost = write_records(self.store, interactions, feedback)
        except Exception:  # a bug of ours; the records are counted, never silently lost
            _log.exception("exporter failed on %d spans; counted as dropped", len(spans))
            lost = ("exporter_error", max(len(spans) - sampled - malformed, 0))
        with self._lock:
            self.sampled_out += sampled
            if malformed:
                self.drops.add("malformed_span", malformed)
            if lost is not None and lost[1]:
                self.drops.add(*lost)
            self.stored += stored
        if stored and self._on_stored is not None:
            self._on_stored(stored)
        return SpanExportResult.FAILURE if lost is not None else SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Ask the store to make what it holds durable (foreign spans whose trace has not
        settled stay held)."""
        self._settled(self.assembler.expire())
        try:
            return store_flush(self.store, timeout_millis / 1000.0)
        except Exception:
            _log.warning("store flush failed", exc_info=True)
            return False

    def shutdown(self) -> None:
        """Close the store; later exports are counted as dropped."""
        if self._closed:
            return
        try:
            self._settled(self.assembler.close())
        except Exception:
            _log.warning("could not settle held spans at shutdown", exc_info=True)
        self._closed = True
        try:
            self.store.close()
        except Exception:
            _log.warning("store close failed", exc_info=True)
