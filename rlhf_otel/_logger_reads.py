"""The logger's sessions and reads, kept apart from its writes (``RLHFLogger`` has both)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from rlhf_otel import _validate as V
from rlhf_otel._config import RLHFConfig
from rlhf_otel._counters import DropCounter
from rlhf_otel._errors import ValidationError
from rlhf_otel._redact import ContentPolicy
from rlhf_otel._session import SessionManager
from rlhf_otel.pipeline import RecordQueue, RecordSpanProcessor
from rlhf_otel.records import (
    Feedback,
    FeedbackFilter,
    FeedbackSession,
    FeedbackStats,
    FeedbackType,
    Interaction,
    InteractionFilter,
    as_utc,
    utc_now,
    validate_id,
)
from rlhf_otel.stores import Store, StoreBase

__all__ = ["ReadMethods", "SessionMethods"]


class SessionMethods:
    """Sessions: ``start_session``, ``end_session``, ``get_current_session``, ``session``."""

    config: RLHFConfig
    sessions: SessionManager
    _content: ContentPolicy

    def _dbg(self, msg: str, *args: object) -> None:
        raise NotImplementedError

    def start_session(
        self, user_id: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> str:
        """Start a session current in this context (ending its previous one); returns its id."""
        user_id = V.identifier("user_id", user_id)
        session = self.sessions.start(user_id, V.metadata(metadata))
        self._dbg("Started session: %s", session.id)
        return session.id

    def end_session(self) -> FeedbackSession | None:
        """End this context's session; returns it (with ``end_time``) or ``None``."""
        session = self.sessions.end()
        if session is not None:
            self._dbg("Ended session: %s", session.id)
        return session

    def get_current_session(self) -> FeedbackSession | None:
        """A copy of this context's current session, or ``None``."""
        session = self.sessions.current()
        return None if session is None else copy.deepcopy(session)

    @contextlib.contextmanager
    def session(
        self, user_id: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Iterator[FeedbackSession]:
        """``with logger.session(user_id=...) as s:`` a session for this block and context."""
        user_id = V.identifier("user_id", user_id)
        session = self.sessions._new(user_id, V.metadata(metadata))
        token = self.sessions.bind(session)
        try:
            yield session
        finally:
            self.sessions.reset(token)
            self.sessions._end(session)

    def _who(
        self, user_id: object, session_id: object
    ) -> tuple[str | None, str | None, FeedbackSession | None]:
        user = V.identifier("user_id", user_id)
        sid = V.identifier("session_id", session_id)
        session = self.sessions.touch()
        if session is not None:
            user = user or session.user_id
            sid = sid or session.id
        user, sid = self._content.ident(user), self._content.ident(sid)
        if user is None and not self.config.allow_anonymous:
            raise ValidationError(
                "a user id is required (allow_anonymous=False): pass user_id=... or log inside "
                "a session started with a user id"
            )
        return user, sid, session


class ReadMethods:
    """Reads and ``delivery()``: every read exports what is pending first, so it sees the
    writes before it."""

    config: RLHFConfig
    store: Store
    queue: RecordQueue
    span_records: RecordSpanProcessor
    _closed: bool
    _store_ops: StoreBase
    _drops: DropCounter
    _content: ContentPolicy
    _otlp_processor: Any

    def delivery(self) -> dict[str, Any]:
        """What happened to the records logged so far.

        Returns:
            ``accepted`` (records logged), ``stored`` (written to the store), ``pending``
            (still queued), ``in_flight`` (inside a store write that has not returned),
            ``sampled_out``, ``dropped`` (by reason, the store's own losses included) and
            ``truncated`` (texts cut to the size limits), ``foreign_skipped`` (spans of
            other instrumentations that hold no interaction, by reason: an embedding, a
            tool call, a shape no dialect reads), ``foreign_waits`` (waits for another
            library's trace or log records that ended without them, by reason; the span
            was stored as it was) and ``foreign_held`` (spans of other libraries waiting
            for their trace to settle); with OTLP export, ``otlp`` gives
            that path's own ``pending`` and ``dropped``. Once a logging call has returned,
            ``accepted == stored + pending + in_flight + sampled_out + sum(dropped)``
            (the store's own later losses aside), at every moment.
        """
        return {
            **self.queue.delivery(),
            "truncated": self._content.truncated,
            "foreign_skipped": self.span_records.skipped.snapshot(),
            "foreign_waits": self.span_records.assembler.gave_up.snapshot(),
            "foreign_held": self.span_records.assembler.pending,
            **(
                {}
                if self._otlp_processor is None
                else {
                    "otlp": {
                        "pending": self._otlp_processor.pending,
                        "dropped": dict(self._otlp_processor.dropped()),
                    }
                }
            ),
        }

    def _sync(self) -> None:
        if not self._closed:
            self.queue.force_flush(int(self.config.export_timeout * 1000))

    def get_interaction(self, interaction_id: str) -> Interaction | None:
        """The interaction with its ``feedback_ids`` filled in, or ``None``."""
        self._sync()
        found = self.store.get_interaction(validate_id(interaction_id))
        if found is None:
            return None
        ids = tuple(
            fb.id for fb in self.store.scan_feedback(FeedbackFilter(interaction_ids=[found.id]))
        )
        return replace(found, feedback_ids=ids)

    def get_feedback(self, feedback_id: str) -> Feedback | None:
        """The feedback with this id, or ``None``."""
        self._sync()
        return self.store.get_feedback(validate_id(feedback_id, "feedback id"))

    def get_feedback_for_interaction(self, interaction_id: str) -> list[Feedback]:
        """Every feedback that targets this interaction (comparisons included), oldest first."""
        self._sync()
        flt = FeedbackFilter(interaction_ids=[validate_id(interaction_id)])
        return list(self.store.scan_feedback(flt))

    def get_interactions(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Interaction]:
        """Interactions logged in ``[start, end]``, oldest first, at most ``limit``."""
        self._sync()
        return list(
            self.store.scan_interactions(
                InteractionFilter(start_time=start, end_time=end, limit=_limit(limit))
            )
        )

    def get_feedback_in_range(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Feedback]:
        """Feedback logged in ``[start, end]``, oldest first, at most ``limit``."""
        return self.query_feedback(start_time=start, end_time=end, limit=limit)

    def query_feedback(self, filter: FeedbackFilter | None = None, **fields: Any) -> list[Feedback]:
        """Feedback matching ``filter`` (or the :class:`FeedbackFilter` fields as keywords)."""
        if filter is None:
            try:
                filter = FeedbackFilter(**fields)
            except TypeError as exc:
                raise ValidationError(f"query_feedback: {exc}") from None
        elif fields:
            raise ValidationError("pass either a FeedbackFilter or keyword fields, not both")
        _limit(filter.limit)
        if (
            isinstance(filter.offset, bool)
            or not isinstance(filter.offset, int)
            or filter.offset < 0
        ):
            raise ValidationError(f"offset must be an int >= 0; got {filter.offset!r}")
        if filter.types is not None:
            filter = _with_types(filter)
        self._sync()
        return list(self.store.scan_feedback(filter))

    def purge(self, *, before: datetime | None = None, user_id: str | None = None) -> int:
        """Delete stored records for a data-protection request; returns how many.

        ``before`` removes everything logged earlier (a naive time is local time);
        ``user_id`` every record of that user; both together, that user's records before
        the time. Pending records are written first, so nothing logged before the call
        escapes it.

        Raises:
            ValidationError: neither ``before`` nor ``user_id`` was given.
            RLHFError: the store cannot delete records.
        """
        if before is None and user_id is None:
            raise ValidationError("purge needs before=<datetime> and/or user_id=<str>")
        self._sync()
        return self._store_ops.purge(before=as_utc(before), user_id=user_id)

    def get_feedback_stats(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> FeedbackStats:
        """Statistics of the records in ``[start, end]`` (see :class:`FeedbackStats`); naive
        times are local time."""
        self._sync()
        return self._store_ops.compute_stats(as_utc(start), as_utc(end) or utc_now())

    def export_feedback(self, format: str = "json", **options: Any) -> str | bytes:
        """Export records (JSON, JSONL, CSV, Parquet, or a training set).

        See ``rlhf_otel.export.export_feedback`` for the formats and options.
        """
        self._sync()
        from rlhf_otel.export import export_feedback

        result: str | bytes = export_feedback(self.store, format, **options)
        return result

    def get_analytics(self, filter: FeedbackFilter | None = None, **options: Any) -> Any:
        """Stats, trends, breakdowns, rankings and agreement; see ``rlhf_otel.export``."""
        self._sync()
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
