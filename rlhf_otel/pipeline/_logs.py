"""RLHFLogRecordExporter: GenAI content sent as log records, joined to its span's record."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from opentelemetry.sdk._logs import export as _sdk_logs

from rlhf_otel._counters import DropCounter
from rlhf_otel.pipeline._exporter import RLHFSpanExporter
from rlhf_otel.recording import EventView, TraceAssembler, is_dialect_event

# Newer SDKs name these LogRecordExporter/LogRecordExportResult; older ones LogExporter.
_Base: Any = getattr(_sdk_logs, "LogRecordExporter", None) or _sdk_logs.LogExporter
_Result: Any = getattr(_sdk_logs, "LogRecordExportResult", None) or _sdk_logs.LogExportResult

__all__ = ["RLHFLogRecordExporter", "ZeroCodeLogExporter", "genai_log_events", "remember_zero_code"]

_log = logging.getLogger("rlhf_otel")


class LogJoiner(Protocol):
    """What log records are joined to: ``RecordSpanProcessor`` or ``RLHFSpanExporter``."""

    @property
    def assembler(self) -> TraceAssembler:
        """Holds the spans the records join."""

    def settle_logs(self, records: Sequence[tuple[int, int, EventView]]) -> None:
        """Join ``(trace_id, span_id, event)`` records to their spans."""


def _event_name(record: Any, attrs: Mapping[str, Any]) -> str | None:
    name = getattr(record, "event_name", None) or attrs.get("event.name")
    return name if isinstance(name, str) else None


def genai_log_events(batch: Sequence[Any]) -> list[tuple[int, int, EventView]]:
    """``(trace_id, span_id, event)`` of the log records in ``batch`` that carry GenAI
    content (by event name); others are not ours to read."""
    out: list[tuple[int, int, EventView]] = []
    for item in batch:
        record = getattr(item, "log_record", item)
        attrs = dict(getattr(record, "attributes", None) or {})
        name = _event_name(record, attrs)
        trace_id, span_id = getattr(record, "trace_id", 0) or 0, getattr(record, "span_id", 0) or 0
        if name is None or not is_dialect_event(name) or not trace_id or not span_id:
            continue
        out.append((trace_id, span_id, EventView(name, attrs, getattr(record, "body", None))))
    return out


class RLHFLogRecordExporter(_Base):  # type: ignore[misc]  # the SDK base is looked up by name
    """Joins GenAI log records (``gen_ai.client.inference.operation.details``, the older
    ``gen_ai.*.message``/``gen_ai.choice`` events) to their span's interaction.

    Instrumentations that send content as logs (OpenTelemetry's openai-v2 with
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=EVENT_ONLY``, or without the latest
    conventions) leave the span without prompt and answer; give this exporter to the
    ``LoggerProvider`` beside the logger's span pipeline and the two are joined by trace
    and span id, whichever arrives first (see ``docs/dialects.md`` for the waits).

    Args:
        spans: whose spans the content joins: a logger's ``span_records`` (its
            ``RecordSpanProcessor``) or an ``RLHFSpanExporter``. Attaching this exporter
            makes spans without content wait for their log records (``docs/dialects.md``).

    Example::

        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        logs = LoggerProvider()
        logs.add_log_record_processor(
            BatchLogRecordProcessor(RLHFLogRecordExporter(logger.span_records))
        )
        OpenAIInstrumentor().instrument(tracer_provider=provider, logger_provider=logs)
    """

    def __init__(self, spans: LogJoiner | None = None) -> None:
        self._spans = spans
        if spans is not None:
            spans.assembler.expect_logs = True
        self.orphaned = DropCounter()
        """Log records that found no span exporter to join (counted, by reason)."""
        self._closed = False

    def target(self) -> LogJoiner | None:
        """The span exporter records are joined to."""
        return self._spans

    def export(self, batch: Sequence[Any]) -> Any:
        """Hand the GenAI content of ``batch`` to the span exporter; never raises."""
        try:
            events = genai_log_events(batch)
            if not events:
                return _Result.SUCCESS
            spans = self.target()
            if spans is None or self._closed:
                self.orphaned.add("no_span_exporter", len(events))
                return _Result.SUCCESS
            spans.settle_logs(events)
        except Exception:  # the telemetry path never raises into the host program
            _log.warning("could not join %d log records", len(batch), exc_info=True)
            return _Result.FAILURE
        return _Result.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is held here (the span exporter holds what waits)."""
        return True

    def shutdown(self) -> None:
        """Stop taking records."""
        self._closed = True


_zero_code: list[RLHFSpanExporter] = []
_zero_code_lock = threading.Lock()


_logs_expected: list[bool] = [False]


def remember_zero_code(exporter: RLHFSpanExporter) -> None:
    """The zero-code span exporter of this process (the logs exporter joins to it)."""
    with _zero_code_lock:
        _zero_code[:] = [exporter]
        if _logs_expected[0]:
            exporter.assembler.expect_logs = True


class ZeroCodeLogExporter(RLHFLogRecordExporter):
    """The logs exporter ``opentelemetry-instrument --logs_exporter rlhf`` builds: joins GenAI
    log records to the spans of the ``rlhf`` traces exporter in the same process."""

    def __init__(self) -> None:
        super().__init__(None)
        with _zero_code_lock:
            _logs_expected[0] = True
            for exporter in _zero_code:
                exporter.assembler.expect_logs = True

    def target(self) -> LogJoiner | None:
        """The process's zero-code span exporter (built by the same configurator)."""
        with _zero_code_lock:
            return _zero_code[0] if _zero_code else None
