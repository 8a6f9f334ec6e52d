"""RLHFSpanExporter: our spans (and GenAI spans of other libraries) into store records."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from opentelemetry.context import attach, detach, set_value
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from rlhf_otel import attributes as A
from rlhf_otel._counters import DropCounter
from rlhf_otel._redact import ContentPolicy
from rlhf_otel.recording import ReadableSpanLike, records_from_span
from rlhf_otel.records import Feedback, Interaction
from rlhf_otel.stores import Store, store_flush

__all__ = ["PrebuiltRecords", "RLHFSpanExporter"]

_log = logging.getLogger("rlhf_otel")

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
        self._on_stored = on_stored
        self._closed = False

    def records(
        self, spans: Sequence[ReadableSpanLike]
    ) -> tuple[list[Interaction], list[Feedback]]:
        """The records that ``spans`` carry (malformed spans are counted, not raised)."""
        interactions: list[Interaction] = []
        feedback: list[Feedback] = []
        take = None if self.prebuilt is None else self.prebuilt.take
        for span in spans:
            try:
                ready = None if take is None else take(span.get_span_context().span_id)
                interaction, fbs = records_from_span(span, ready)
            except Exception:
                _log.warning("span %r is not a well-formed rlhf span; dropped", span.name)
                self.drops.add("malformed_span")
                continue
            if interaction is not None:
                if not self._sample_all and self._sampled_out(interaction):
                    self.sampled_out += 1
                else:
                    if self._policy is not None and A.RLHF_RECORD_KIND not in (
                        span.attributes or {}
                    ):
                        interaction = self._redacted(interaction)
                    interactions.append(interaction)
            feedback.extend(fbs)
        return interactions, feedback

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
        """Write the records of ``spans``; failure is a result, never an exception."""
        interactions, feedback = self.records(spans)
        return self.write(interactions, feedback)

    def write(
        self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]
    ) -> SpanExportResult:
        """Write records to the store, counting them as dropped if it fails."""
        n = len(interactions) + len(feedback)
        if not n:
            return SpanExportResult.SUCCESS
        if self._closed:
            self.drops.add("exporter_shutdown", n)
            return SpanExportResult.FAILURE
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
            self.drops.add(f"store_error:{type(exc).__name__}", n)
            return SpanExportResult.FAILURE
        finally:
            detach(token)
        self.stored += n
        if self._on_stored is not None:
            self._on_stored(n)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Ask the store to make what it holds durable."""
        try:
            return store_flush(self.store, timeout_millis / 1000.0)
        except Exception:
            _log.warning("store flush failed", exc_info=True)
            return False

    def shutdown(self) -> None:
        """Close the store; later exports are counted as dropped."""
        if self._closed:
            return
        self._closed = True
        try:
            self.store.close()
        except Exception:
            _log.warning("store close failed", exc_info=True)
