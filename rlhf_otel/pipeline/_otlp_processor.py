"""The span processor of the OTLP-out path: batches, never blocks long, counts what it drops."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter

from rlhf_otel.pipeline._processor import BatchingSpanProcessor

__all__ = ["OTLPSpanProcessor"]


class OTLPSpanProcessor(BatchingSpanProcessor):
    """Queues spans for an OTLP exporter and sends them in batches from a thread.

    The same bounded queue as the store's processor (see :class:`BatchingSpanProcessor`),
    except that the caller never sends over the network itself: past the bound a span is
    dropped at once. Drops are counted as ``otlp_queue_full``, ``otlp_export_failed`` (a
    batch the exporter could not send after its own retries) and ``otlp_after_shutdown``.

    Args:
        exporter: usually a :class:`~rlhf_otel.pipeline._otlp.ContentCaptureSpanExporter`.
        wanted: which finished spans to send (default: all).
        batch_size: spans per export (default 512).
        schedule_delay: seconds between exports when the queue is not full (default 1).
        max_queue_size: spans waiting at most (default 20,000).
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        wanted: Callable[[ReadableSpan], bool] | None = None,
        batch_size: int = 512,
        schedule_delay: float = 1.0,
        max_queue_size: int = 20_000,
    ) -> None:
        super().__init__(
            exporter,
            wanted=wanted,
            batch_size=batch_size,
            schedule_delay=schedule_delay,
            max_queue_size=max_queue_size,
            drop_prefix="otlp_",
            count_failures=True,
            export_inline=False,
        )
