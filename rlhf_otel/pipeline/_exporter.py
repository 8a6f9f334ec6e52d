"""RLHFSpanExporter: our spans (and GenAI spans of other libraries) into store records."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from opentelemetry.context import attach, detach, set_value
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from rlhf_otel._counters import DropCounter
from rlhf_otel._redact import ContentPolicy
from rlhf_otel.recording import (
    Assembled,
    EventView,
    ReadableSpanLike,
    TraceAssembler,
    carries_records,
    decode_span,
    is_foreign,
)
from rlhf_otel.records import Feedback, Interaction
from rlhf_otel.stores import Store, store_flush

__all__ = ["PrebuiltRecords", "RLHFSpanExporter"]

_log = logging.getLogger("rlhf_otel")
# Traces whose other-library spans are on their way: their other spans are wanted too.
_FOREIGN_TRACES = 10_000

try:  # the key instrumentations check, so our store's own HTTP is never traced
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY as _SUPPRESS
except ImportError:  # pragma: no cover - very old API
    _SUPPRESS = "suppress_instrumentation"


class PrebuiltRecords(Protocol):
    """Records a recording handler already built for its spans (``RecordingHandler``)."""

    def take(self, span_id: int) -> Interaction | Feedback | None:
        """The record of a span, handed over once."""

    def forget(self, span_id: int) -> None:
        """Drop the record of a span that will never be exported."""

    def clear(self) -> None:
        """Forget everything (in a forked child)."""


class RLHFSpanExporter(SpanExporter):
    """Turns interaction and feedback spans into records and writes them to a store.

    Spans that are neither (HTTP server spans, database spans, ...) are ignored. GenAI spans
    of other instrumentation libraries are stored as interactions; their text passes
    ``redact`` first (ours was redacted when it was captured).

    Args:
        store: where records go; the exporter owns it and closes it on ``shutdown``.
        redact: redactors for spans that rlhf-otel did not capture itself.
        sample_rate: share of traces whose interactions are kept (by trace id).
        drops: where lost records are counted (shared with the span processor).
        on_stored: called with the number of records each successful write stored.
        prebuilt: the recording handler whose records this exporter takes instead of
            decoding their spans again.
    """

    def __init__(
        self,
        store: Store,
        *,
        redact: Sequence[Callable[[str], str]] = (),
        sample_rate: float = 1.0,
        drops: DropCounter | None = None,
        on_stored: Callable[[int], None] | None = None,
        prebuilt: PrebuiltRecords | None = None,
    ) -> None:
        self.store = store
        self.prebuilt = prebuilt
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
        self.ledger = threading.Lock()
        self._settle: Callable[[int], None] = _no_settle

    def bind_ledger(self, ledger: threading.Lock, settle: Callable[[int], None]) -> None:
        """Settle each exported batch under ``ledger``: ``settle(len(spans))`` runs in the
        same step that counts its records as stored, sampled out or dropped, so a reader
        holding ``ledger`` never sees a record twice or not at all."""
        self.ledger = ledger
        self._settle = settle

    def records(
        self, spans: Sequence[ReadableSpanLike]
    ) -> tuple[list[Interaction], list[Feedback]]:
        """The records that ``spans`` carry (malformed spans are counted, not raised)."""
        interactions, feedback, sampled, malformed = self._convert(spans)
        with self.ledger:
            self.sampled_out += sampled
            if malformed:
                self.drops.add("malformed_span", malformed)
        return interactions, feedback

    def _convert(
        self, spans: Sequence[ReadableSpanLike]
    ) -> tuple[list[Interaction], list[Feedback], int, int]:
        interactions: list[Interaction] = []
        feedback: list[Feedback] = []
        sampled = malformed = 0
        take = None if self.prebuilt is None else self.prebuilt.take
        # Spans of other libraries settle per trace (outermost span, logs joined).
        held: list[tuple[ReadableSpanLike, bool]] = []
        for span in spans:
            try:
                ready = None if take is None else take(span.get_span_context().span_id)
                if ready is None and is_foreign(span):
                    held.append((span, True))
                    continue
                held.append((span, False))
                found = decode_span(span, ready)
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
                kept.append(self._redacted(it) if self._policy is not None else it)
        return sampled, kept

    def _settled(self, settled: Assembled) -> None:
        """Records the assembler settled on its own (a wait ran out)."""
        sampled, kept = self._admit(settled.interactions)
        if sampled:
            with self.ledger:
                self.sampled_out += sampled
        self.write(kept, settled.feedback)

    def settle_logs(self, records: Sequence[tuple[int, int, EventView]]) -> None:
        """Join GenAI log records to their spans (``RLHFLogRecordExporter`` calls this)."""
        self._settled(self.assembler.logs(records))

    def _sampled_out(self, interaction: Interaction) -> bool:
        trace_id = int(interaction.trace_id or "0", 16)
        return (trace_id & 0xFFFFFFFFFFFFFFFF) >= self._threshold

    def _redacted(self, it: Interaction) -> Interaction:
        assert self._policy is not None
        return replace(
            it,
            prompt=self._policy.prompt(it.prompt),
            response=self._policy.response(it.response),
            context=self._policy.context(it.context),
        )

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write the records of ``spans``; failure is a result, never an exception.

        Every count the batch changes (stored, sampled out, dropped) changes in one step
        under ``ledger``, together with the processor's in-flight count.
        """
        sampled = malformed = stored = 0
        lost: tuple[str, int] | None = None
        result = SpanExportResult.FAILURE
        try:
            interactions, feedback, sampled, malformed = self._convert(spans)
            result, stored, lost = self._write(interactions, feedback)
        except Exception:  # a bug of ours; the records are counted, never silently lost
            _log.exception("exporter failed on %d spans; counted as dropped", len(spans))
            lost = ("exporter_error", max(len(spans) - sampled - malformed, 0))
        finally:
            with self.ledger:
                self.sampled_out += sampled
                if malformed:
                    self.drops.add("malformed_span", malformed)
                if lost is not None and lost[1]:
                    self.drops.add(*lost)
                self.stored += stored
                self._settle(len(spans))
        if stored and self._on_stored is not None:
            self._on_stored(stored)
        return result

    def write(
        self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]
    ) -> SpanExportResult:
        """Write records to the store, counting them as dropped if it fails."""
        result, stored, lost = self._write(interactions, feedback)
        with self.ledger:
            if lost is not None:
                self.drops.add(*lost)
            self.stored += stored
        if stored and self._on_stored is not None:
            self._on_stored(stored)
        return result

    def _write(
        self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]
    ) -> tuple[SpanExportResult, int, tuple[str, int] | None]:
        """(result, records stored, (drop reason, count) or None); counts nothing itself."""
        n = len(interactions) + len(feedback)
        if not n:
            return SpanExportResult.SUCCESS, 0, None
        if self._closed:
            return SpanExportResult.FAILURE, 0, ("exporter_shutdown", n)
        token = attach(set_value(_SUPPRESS, True))
        try:
            self.store.write(interactions, feedback)
        except Exception as exc:
            _log.warning(
                "store %s failed to write %d records (%s); counted as dropped",
                type(self.store).__name__,
                n,
                type(exc).__name__,
            )
            return SpanExportResult.FAILURE, 0, (f"store_error:{type(exc).__name__}", n)
        finally:
            detach(token)
        return SpanExportResult.SUCCESS, n, None

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


def _no_settle(n: int) -> None:
    """Nothing to settle when no processor shares its ledger."""
