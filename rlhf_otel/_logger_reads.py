"""StoreReader: the logger's reads and delivery counts (every read writes what is pending
first, so it sees the writes before it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from rlhf_otel._errors import ValidationError
from rlhf_otel._redact import ContentPolicy
from rlhf_otel.analytics import store_stats
from rlhf_otel.pipeline import OTLPSpanProcessor, RecordQueue, RecordSpanProcessor
from rlhf_otel.records import (
    Feedback,
    FeedbackFilter,
    FeedbackStats,
    FeedbackType,
    Interaction,
    InteractionFilter,
    as_utc,
    validate_id,
)
from rlhf_otel.stores import Store, store_purge

__all__ = ["StoreReader"]


class StoreReader:
    """Reads a logger's store after writing what its queue holds, and counts delivery.

    Args:
        store: the logger's store.
        queue: the logger's record queue (flushed before each read while ``is_open()``).
        span_records: the logger's span processor (its skip counts are reported).
        content: the content policy (its truncation count is reported).
        otlp: the OTLP-out processor, if any (its own counts are reported).
        export_timeout: seconds a read waits for pending records at most.
        is_open: whether the logger is still open.
    """

    def __init__(
        self,
        store: Store,
        queue: RecordQueue,
        span_records: RecordSpanProcessor,
        content: ContentPolicy,
        otlp: OTLPSpanProcessor | None,
        export_timeout: float,
        is_open: Callable[[], bool],
    ) -> None:
        self.store = store
        self._queue = queue
        self._span_records = span_records
        self._content = content
        self._otlp = otlp
        self._timeout_ms = int(export_timeout * 1000)
        self._is_open = is_open

    def delivery(self) -> dict[str, Any]:
        """The queue's counts, truncations, foreign skips and the OTLP path's counts."""
        out: dict[str, Any] = {
            **self._queue.delivery(),
            "truncated": self._content.truncated,
            "foreign_skipped": self._span_records.skipped.snapshot(),
            "foreign_waits": self._span_records.assembler.gave_up.snapshot(),
            "foreign_held": self._span_records.assembler.pending,
        }
        if self._otlp is not None:
            out["otlp"] = {"pending": self._otlp.pending, "dropped": dict(self._otlp.dropped())}
        return out

    def sync(self) -> None:
        """Write what is pending (bounded by the export timeout)."""
        if self._is_open():
            self._queue.force_flush(self._timeout_ms)

    def interaction(self, interaction_id: str) -> Interaction | None:
        """The interaction with its ``feedback_ids`` filled in, or ``None``."""
        self.sync()
        found = self.store.get_interaction(validate_id(interaction_id))
        if found is None:
            return None
        ids = tuple(
            fb.id for fb in self.store.scan_feedback(FeedbackFilter(interaction_ids=[found.id]))
        )
        return replace(found, feedback_ids=ids)

    def feedback(self, feedback_id: str) -> Feedback | None:
        """The feedback with this id, or ``None``."""
        self.sync()
        return self.store.get_feedback(validate_id(feedback_id, "feedback id"))

    def feedback_for(self, interaction_id: str) -> list[Feedback]:
        """Every feedback that targets this interaction, oldest first."""
        self.sync()
        flt = FeedbackFilter(interaction_ids=[validate_id(interaction_id)])
        return list(self.store.scan_feedback(flt))

    def interactions(
        self, start: datetime | None, end: datetime | None, limit: int | None
    ) -> list[Interaction]:
        """Interactions in ``[start, end]``, oldest first, at most ``limit``."""
        self.sync()
        flt = InteractionFilter(start_time=start, end_time=end, limit=_limit(limit))
        return list(self.store.scan_interactions(flt))

    def query_feedback(
        self, filter: FeedbackFilter | None, fields: Mapping[str, Any]
    ) -> list[Feedback]:
        """Feedback matching ``filter`` or the :class:`FeedbackFilter` ``fields``."""
        if filter is None:
            try:
                filter = FeedbackFilter(**fields)
            except TypeError as exc:
                raise ValidationError(f"query_feedback: {exc}") from None
        elif fields:
            raise ValidationError("pass either a FeedbackFilter or keyword fields, not both")
        _limit(filter.limit)
        offset = filter.offset
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValidationError(f"offset must be an int >= 0; got {offset!r}")
        if filter.types is not None:
            filter = _with_types(filter)
        self.sync()
        return list(self.store.scan_feedback(filter))

    def purge(self, before: datetime | None, user_id: str | None) -> int:
        """Delete records before a time and/or of a user; returns how many."""
        if before is None and user_id is None:
            raise ValidationError("purge needs before=<datetime> and/or user_id=<str>")
        self.sync()
        return store_purge(self.store, before=as_utc(before), user_id=user_id)

    def stats(self, start: datetime | None, end: datetime | None) -> FeedbackStats:
        """Statistics of the records in ``[start, end]``."""
        self.sync()
        return store_stats(self.store, start, end)

    def export(self, format: str, options: Mapping[str, Any]) -> str | bytes:
        """An export of the store (see ``rlhf_otel.export.export_feedback``)."""
        self.sync()
        from rlhf_otel.export import export_feedback

        result: str | bytes = export_feedback(self.store, format, **options)
        return result

    def analytics(self, filter: FeedbackFilter | None, options: Mapping[str, Any]) -> Any:
        """Analytics of the store (see ``rlhf_otel.export.get_analytics``)."""
        self.sync()
        from rlhf_otel.export import get_analytics

        return get_analytics(self.store, filter, **options)


def _limit(limit: object) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValidationError(f"limit must be an int >= 0 or None; got {limit!r}")
    return limit


def _with_types(flt: FeedbackFilter) -> FeedbackFilter:
    try:
        types = tuple(FeedbackType(t) for t in flt.types or ())
    except ValueError as exc:
        raise ValidationError(
            f"{exc}; allowed: {', '.join(t.value for t in FeedbackType)}"
        ) from None
    return replace(flt, types=types)
