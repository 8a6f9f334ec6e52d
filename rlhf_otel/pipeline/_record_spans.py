"""The logger's span processor: records of spans we did not record ourselves, onto the
logger's record queue."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from rlhf_otel import attributes as A
from rlhf_otel._counters import DropCounter
from rlhf_otel._redact import ContentPolicy
from rlhf_otel.pipeline._exporter import redacted, span_records
from rlhf_otel.pipeline._queue import RecordQueue, recorded_here
from rlhf_otel.recording import (
    Assembled,
    EventView,
    ReadableSpanLike,
    TraceAssembler,
    carries_records,
    decode_span,
    is_foreign,
)
from rlhf_otel.records import Interaction

__all__ = ["RecordSpanProcessor"]

_log = logging.getLogger("rlhf_otel")


class RecordSpanProcessor(SpanProcessor):
    """Puts the records of spans we did not record (another library's GenAI spans, our
    spans made by a handler without a queue) onto ``queue``.

    Spans whose record a record queue of this process already took are skipped (a record
    is stored once); spans that carry no record are ignored. The span is decoded when it
    ends; the queue counts, batches and writes. A malformed span is counted as dropped
    (``malformed_span``). Flushing or shutting the processor down (as the tracer provider
    does) flushes or shuts the queue down.

    Args:
        queue: where the records go.
        policy: redaction for the texts of foreign GenAI spans (default: none).
    """

    ignores_recorded_spans: Final = True
    """It ignores every span whose record a queue of this process took, so a handler whose
    spans only such processors see need not make them (``recording/_unseen.py``)."""

    def __init__(self, queue: RecordQueue, policy: ContentPolicy | None = None) -> None:
        self.queue = queue
        self._policy = policy
        self._token = queue.token
        self.skipped = DropCounter()
        """Spans of other libraries that a dialect knows but that hold no interaction
        (embeddings, retrievers, tools, shapes no dialect can read), by reason."""
        self.assembler = TraceAssembler(self._decode_foreign, self._settled)
        """Holds other libraries' spans until their trace settles (see docs/dialects.md)."""
        queue.retarget = self.assembler.hold_or_retarget

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do at start."""

    def on_end(self, span: ReadableSpan) -> None:
        """Decode and queue the span's records, if it carries any of its own (never raises)."""
        try:
            attrs = span.attributes
            try:  # one lookup: this runs at the end of every span of the provider
                ours = attrs is not None and attrs[A.RLHF_RECORD_QUEUE] == self._token
            except KeyError:
                ours = False
            if ours or recorded_here(attrs):
                return  # ours: the queue has the record already (the common case, first)
            if not carries_records(span):
                ctx = span.get_span_context()
                if ctx is not None and self.assembler.holds(ctx.trace_id):
                    self._settled(self.assembler.spans([(span, False)]))
                return
            if is_foreign(span):
                self._settled(self.assembler.spans([(span, True)]))
                return
        except Exception:
            _log.exception("span filter failed")
            return
        try:
            found = span_records(span, self._policy)
        except Exception:
            _log.warning("span %r is not a well-formed rlhf span; dropped", span.name)
            self.queue.refuse("malformed_span")
            return
        if found.skipped is not None:
            self.skipped.add(found.skipped)
        if found.interaction is not None:
            self.queue.put(found.interaction)
        for record in found.feedback:
            self.queue.put(record)

    def _decode_foreign(
        self, span: ReadableSpanLike, joined: Sequence[EventView]
    ) -> tuple[Interaction | None, str | None]:
        found = decode_span(span, joined=joined)
        if found.skipped is not None:
            self.skipped.add(found.skipped)
        interaction = found.interaction
        if interaction is not None and self._policy is not None:
            interaction = redacted(interaction, self._policy)
        return interaction, found.kind

    def _settled(self, settled: Assembled) -> None:
        for interaction in settled.interactions:
            self.queue.put(interaction)
        for feedback in settled.feedback:  # feedback the queue let the assembler hold
            self.queue.release(feedback)

    def settle_logs(self, records: Sequence[tuple[int, int, EventView]]) -> None:
        """Join GenAI log records to their spans (``RLHFLogRecordExporter`` calls this)."""
        self._settled(self.assembler.logs(records))

    def settle_held(self) -> None:
        """Settle every held span now (the logger's ``close`` calls this; never raises)."""
        try:
            self._settled(self.assembler.close())
        except Exception:
            _log.warning("could not settle held spans", exc_info=True)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Write what the queue holds (see ``RecordQueue.force_flush``); foreign spans
        whose trace has not settled stay held."""
        self._settled(self.assembler.expire())
        return self.queue.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Settle every held span, then shut the queue down (``RecordQueue.shutdown``)."""
        self.settle_held()
        self.queue.shutdown()
