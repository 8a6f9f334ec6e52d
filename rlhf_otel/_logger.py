"""RLHFLogger: the guide's logger API as a thin facade over an OpenTelemetry tracer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from types import TracebackType
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

from rlhf_otel import _validate as V
from rlhf_otel._config import RLHFConfig
from rlhf_otel._counters import DropCounter
from rlhf_otel._errors import ConfigurationError, RLHFError, ValidationError
from rlhf_otel._logger_reads import StoreReader
from rlhf_otel._logger_sessions import SessionDesk
from rlhf_otel._logger_writes import RecordWriter
from rlhf_otel._provider import resolve_tracer_provider
from rlhf_otel._redact import ContentPolicy
from rlhf_otel._session import SessionManager
from rlhf_otel.pipeline import RecordQueue, RecordSpanProcessor, add_otlp_export
from rlhf_otel.recording import RecordingHandler
from rlhf_otel.records import (
    Feedback,
    FeedbackFilter,
    FeedbackSession,
    FeedbackStats,
    FeedbackType,
    Interaction,
    StorageBackend,
    TokenUsage,
    data_class,
)
from rlhf_otel.stores import Store, open_store, store_initialize

__all__ = ["RLHFLogger", "create_rlhf_logger", "default_logger"]

_log = logging.getLogger("rlhf_otel")
_TRACER_NAME = "rlhf_otel"
_default_lock = threading.Lock()
_default: RLHFLogger | None = None


def default_logger() -> RLHFLogger | None:
    """The logger that ``@trace_llm`` uses when given none (the last one created, open)."""
    return _default


class RLHFLogger:
    """Logs interactions and feedback as spans and reads them back from its store.

    Every write returns at once (records go through a batching record queue); every read
    first exports what is pending, so it sees the writes before it. Usable as a context
    manager (``initialize`` on enter, ``close`` on exit). Its collaborators: a recording
    handler and record queue (the record's path), a writer, a reader and a session desk.

    Args:
        config: the configuration (see :class:`RLHFConfig`); defaults apply when omitted.
        tracer_provider: the SDK provider to attach to. Without one the logger attaches to
            the global provider if that is an SDK provider, else creates a private one (made
            global only with ``config.set_global_tracer_provider``).
    """

    def __init__(
        self, config: RLHFConfig | None = None, *, tracer_provider: TracerProvider | None = None
    ) -> None:
        self.config = config = config or RLHFConfig.from_env()
        self._drops = DropCounter()
        self.store: Store = open_store(config)
        self._content = ContentPolicy(
            config.redact,
            max_prompt_chars=config.max_prompt_chars,
            max_response_chars=config.max_response_chars,
            max_context_messages=config.max_context_messages,
            max_text_chars=config.max_text_chars,
        )
        self.sessions = SessionManager(config.session_timeout)
        self.queue = RecordQueue(
            self.store,
            sample_rate=config.sample_rate,
            batch_size=config.batch_size,
            schedule_delay=config.batch_flush_interval,
            max_queue_size=config.max_queue_size,
            batching=config.enable_batching,
            drops=self._drops,
        )
        """Where this logger's records go: counted, batched and written to ``store``."""
        self.tracer_provider = resolve_tracer_provider(tracer_provider, config)
        # Spans of other libraries that reach this provider become records on the same queue.
        self.span_records = RecordSpanProcessor(self.queue)
        self.tracer_provider.add_span_processor(self.span_records)
        self._otlp_processor = (
            add_otlp_export(self.tracer_provider, config) if config.otlp_endpoint else None
        )
        self.tracer: Tracer = self.tracer_provider.get_tracer(_TRACER_NAME)
        self.recording = RecordingHandler(
            self.tracer,
            policy=self._content,
            sessions=self.sessions,
            capture_content=config.capture_content,
            queue=self.queue,
        )
        """The recording handler this logger's producers use (see ``RecordingHandler``)."""
        self._desk = SessionDesk(self.sessions, self._content, config)
        self._writes = RecordWriter(config, self._content, self._desk, self.recording)
        self._reads = StoreReader(
            self.store,
            self.queue,
            self.span_records,
            self._content,
            self._otlp_processor,
            config.export_timeout,
            lambda: not self._closed,
        )
        self._initialized = False
        self._closed = False
        self._debug = config.debug
        global _default
        with _default_lock:
            _default = self

    # -- wiring ---------------------------------------------------------------------------

    def _dbg(self, msg: str, *args: object) -> None:
        if self._debug:
            _log.debug(msg, *args)

    def _check_open(self) -> None:
        if self._closed:
            raise RLHFError("this RLHFLogger is closed; create a new one to log again")
        if not self._initialized:
            self.initialize()

    # -- lifecycle ------------------------------------------------------------------------

    def initialize(self) -> RLHFLogger:
        """Prepare the store and start the default session (idempotent; logging calls it)."""
        if self._initialized:
            return self
        store_initialize(self.store)
        if self.config.enable_session_tracking and self.sessions.current() is None:
            session = self.sessions.start(default=True)
            self._dbg("Started session: %s", session.id)
        self._initialized = True
        self._dbg("RLHFLogger initialized")
        return self

    def flush(self, timeout: float | None = None) -> bool:
        """Export every pending record and make the store durable.

        Returns:
            ``True`` when every record accepted so far is stored or counted in
            :meth:`delivery` as dropped; ``False`` if that did not finish within ``timeout``
            seconds (default ``config.export_timeout``; the call never waits longer, even
            if the store's write hangs) or the store failed to flush.
        """
        timeout = self.config.export_timeout if timeout is None else timeout
        self._dbg("Flushing: %d pending", self.queue.pending)
        return self.queue.force_flush(int(timeout * 1000))

    def close(self) -> None:
        """Flush, end the sessions, shut the pipeline down and close the store (idempotent).

        Returns within ``config.export_timeout`` seconds even if the store hangs: records
        still queued then are counted as dropped (``shutdown_timeout``), those inside the
        stuck write stay ``in_flight`` in :meth:`delivery`, and the store is closed when
        that write returns. A tracer provider that the logger did not create is left running.
        """
        if self._closed:
            return
        self._dbg("Closing RLHFLogger")
        self.sessions.end_all()
        deadline = time.monotonic() + self.config.export_timeout
        # Other libraries' spans still waiting for their trace become records first.
        self.span_records.settle_held()
        self.queue.shutdown(int(self.config.export_timeout * 1000))
        if self._otlp_processor is not None:
            left = max(deadline - time.monotonic(), 0.0)
            self._otlp_processor.shutdown(int(left * 1000))
        self._closed = True
        global _default
        with _default_lock:
            if _default is self:
                _default = None

    def __enter__(self) -> RLHFLogger:
        return self.initialize()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- interactions ---------------------------------------------------------------------

    def log_interaction(
        self,
        prompt: str,
        response: str,
        *,
        model: str | None = None,
        provider: str | None = None,
        model_params: Mapping[str, Any] | None = None,
        latency: float | None = None,
        token_usage: TokenUsage | Mapping[str, int] | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        context: Sequence[Mapping[str, Any]] | None = None,
        metadata: Mapping[str, Any] | None = None,
        interaction_id: str | None = None,
        response_id: str | None = None,
        finish_reasons: Sequence[str] | None = None,
    ) -> str:
        """Log one exchange as a ``chat {model}`` span; returns the interaction id.

        Args:
            prompt: what the user asked.
            response: what the model answered.
            model, provider: e.g. ``"gpt-4o"``, ``"openai"``.
            model_params: request parameters (``temperature``, ``max_tokens``, ``top_p``...).
            latency: milliseconds the call took; the span ends now and starts that long ago.
            token_usage: ``TokenUsage`` or ``{"prompt", "completion", "total"}``.
            user_id, session_id: default to the current session's.
            context: earlier messages, ``[{"role": ..., "content": ...}]``.
            metadata: free-form JSON values, merged over ``config.default_metadata``.
            interaction_id: your own id (required when ``auto_generate_ids`` is off).

        Raises:
            ValidationError: an argument is not allowed (nothing was logged).
        """
        self._check_open()
        return self._writes.interaction(
            prompt,
            response,
            model=model,
            provider=provider,
            model_params=model_params,
            latency=latency,
            token_usage=token_usage,
            user_id=user_id,
            session_id=session_id,
            context=context,
            metadata=metadata,
            interaction_id=interaction_id,
            response_id=response_id,
            finish_reasons=finish_reasons,
        )

    # -- feedback -------------------------------------------------------------------------

    def log_binary_feedback(self, interaction_id: str, value: object, **options: Any) -> str:
        """Thumbs up (``BinaryFeedback.THUMBS_UP``/``True``) or down; returns the feedback id.

        ``options`` (every feedback method): ``user_id``, ``session_id``, ``source``,
        ``metadata``, ``feedback_id``, and ``supersedes`` (the id of the earlier version of
        this feedback that it replaces: a changed vote; the superseded one stops counting).
        """
        return self._feedback(FeedbackType.BINARY, interaction_id, V.binary_data(value), options)

    def log_rating(
        self,
        interaction_id: str,
        rating: float,
        comment: str | None = None,
        *,
        max_rating: float = 5,
        min_rating: float = 1,
        **options: Any,
    ) -> str:
        """A rating on the scale ``min_rating..max_rating`` (default 1..5)."""
        data = V.rating_data(rating, comment, max_rating, min_rating)
        return self._feedback(FeedbackType.RATING, interaction_id, data, options)

    def log_text_feedback(
        self,
        interaction_id: str,
        comment: str | None,
        sentiment: str | None = None,
        *,
        correction: str | None = None,
        **options: Any,
    ) -> str:
        """A written comment with an optional sentiment (positive, negative, neutral).

        ``correction`` is the better answer a reviewer wrote (the SFT and DPO exports use
        it); with one, ``comment`` may be ``None`` or empty.
        """
        data = V.text_data(comment, sentiment, correction)
        return self._feedback(FeedbackType.TEXT, interaction_id, data, options)

    def log_multi_dimensional_feedback(
        self,
        interaction_id: str,
        dimensions: Mapping[str, float],
        *,
        weights: Mapping[str, float] | None = None,
        overall_comment: str | None = None,
        **options: Any,
    ) -> str:
        """Scores on several named dimensions, optionally weighted."""
        data = V.multi_dimensional_data(dimensions, weights, overall_comment)
        return self._feedback(FeedbackType.MULTI_DIMENSIONAL, interaction_id, data, options)

    def log_comparative_feedback(
        self,
        preferred_response_id: str,
        compared_response_ids: Sequence[str],
        *,
        reason: str | None = None,
        confidence_level: float | None = None,
        outcome: str = "preferred",
        **options: Any,
    ) -> str:
        """One response preferred over the others (links every one of them).

        ``outcome``: ``"preferred"`` (default), ``"tie"`` or ``"both_bad"``; for the last
        two no response won and the ids keep the order they were shown in.
        """
        data = V.comparative_data(
            preferred_response_id, compared_response_ids, reason, confidence_level, outcome
        )
        return self._feedback(
            FeedbackType.COMPARATIVE, data["preferred_response_id"], data, options
        )

    def log_feedback(
        self,
        interaction_id: str,
        type: FeedbackType | str,
        data: Mapping[str, Any],
        **options: Any,
    ) -> str:
        """Any feedback type with its payload (validated as the specific methods do)."""
        try:
            ftype = FeedbackType(type)
        except ValueError:
            allowed = ", ".join(t.value for t in FeedbackType)
            raise ValidationError(f"feedback type {type!r} unknown; allowed: {allowed}") from None
        clean = V.feedback_data(ftype, data)
        interaction_id = (data_class(ftype).targets(clean) or [interaction_id])[0]
        return self._feedback(ftype, interaction_id, clean, options)

    def _feedback(
        self, ftype: FeedbackType, target: str, data: dict[str, Any], options: Mapping[str, Any]
    ) -> str:
        self._check_open()
        return self._writes.feedback(ftype, target, data, options)

    # -- sessions -------------------------------------------------------------------------

    def start_session(
        self, user_id: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> str:
        """Start a session current in this context (ending its previous one); returns its id."""
        return self._desk.start(user_id, metadata)

    def end_session(self) -> FeedbackSession | None:
        """End this context's session; returns it (with ``end_time``) or ``None``."""
        return self._desk.end()

    def get_current_session(self) -> FeedbackSession | None:
        """A copy of this context's current session, or ``None``."""
        return self._desk.current()

    def session(
        self, user_id: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> AbstractContextManager[FeedbackSession]:
        """``with logger.session(user_id=...) as s:`` a session for this block and context."""
        return self._desk.scoped(user_id, metadata)

    # -- reads ----------------------------------------------------------------------------

    def delivery(self) -> dict[str, Any]:
        """What happened to the records logged so far.

        Returns:
            ``accepted`` (records logged), ``stored``, ``pending`` (queued), ``in_flight``
            (inside a store write that has not returned), ``sampled_out``, ``dropped`` (by
            reason, the store's own losses included), ``truncated`` (texts cut to the size
            limits), ``foreign_skipped`` (other instrumentations' spans with no interaction,
            by reason), ``foreign_waits`` (waits for another library's trace or log records
            that ended without them, by reason; the span was stored as it was) and
            ``foreign_held`` (spans of other libraries waiting for their trace to settle);
            with OTLP export, ``otlp`` has that path's ``pending`` and
            ``dropped``. Once a logging call has returned, ``accepted == stored + pending +
            in_flight + sampled_out + sum(dropped)`` (the store's own later losses aside).
        """
        return self._reads.delivery()

    def get_interaction(self, interaction_id: str) -> Interaction | None:
        """The interaction with its ``feedback_ids`` filled in, or ``None``."""
        return self._reads.interaction(interaction_id)

    def get_feedback(self, feedback_id: str) -> Feedback | None:
        """The feedback with this id, or ``None``."""
        return self._reads.feedback(feedback_id)

    def get_feedback_for_interaction(self, interaction_id: str) -> list[Feedback]:
        """Every feedback that targets this interaction (comparisons included), oldest first."""
        return self._reads.feedback_for(interaction_id)

    def get_interactions(
        self, start: datetime | None = None, end: datetime | None = None, limit: int | None = None
    ) -> list[Interaction]:
        """Interactions logged in ``[start, end]``, oldest first, at most ``limit``."""
        return self._reads.interactions(start, end, limit)

    def get_feedback_in_range(
        self, start: datetime | None = None, end: datetime | None = None, limit: int | None = None
    ) -> list[Feedback]:
        """Feedback logged in ``[start, end]``, oldest first, at most ``limit``."""
        return self.query_feedback(start_time=start, end_time=end, limit=limit)

    def query_feedback(self, filter: FeedbackFilter | None = None, **fields: Any) -> list[Feedback]:
        """Feedback matching ``filter`` (or the :class:`FeedbackFilter` fields as keywords)."""
        return self._reads.query_feedback(filter, fields)

    def purge(self, *, before: datetime | None = None, user_id: str | None = None) -> int:
        """Delete stored records for a data-protection request; returns how many.

        ``before``: everything logged earlier (naive: local time); ``user_id``: that user's
        records; both: that user's records before the time. Pending records are written
        first, so nothing logged before the call escapes it.

        Raises:
            ValidationError: neither ``before`` nor ``user_id`` was given.
            RLHFError: the store cannot delete records.
        """
        return self._reads.purge(before, user_id)

    def get_feedback_stats(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> FeedbackStats:
        """Statistics of the records in ``[start, end]`` (see :class:`FeedbackStats`); naive
        times are local time."""
        return self._reads.stats(start, end)

    def export_feedback(self, format: str = "json", **options: Any) -> str | bytes:
        """Export records (JSON, JSONL, CSV, Parquet, or a training set).

        See ``rlhf_otel.export.export_feedback`` for the formats and options.
        """
        return self._reads.export(format, options)

    def get_analytics(self, filter: FeedbackFilter | None = None, **options: Any) -> Any:
        """Stats, trends, breakdowns, rankings and agreement; see ``rlhf_otel.export``."""
        return self._reads.analytics(filter, options)

    def feedback_token(
        self,
        interaction_id: str | Sequence[str],
        *,
        types: Sequence[FeedbackType | str] | None = None,
        user_id: str | None = None,
        ttl: float = 3600.0,
    ) -> str:
        """A signed token allowing a browser feedback of ``types`` (default all) on these
        interactions, by ``user_id``, for ``ttl`` seconds (see ``rlhf_otel.web``).

        Raises:
            ValidationError: an argument is not allowed.
            ConfigurationError: no ``feedback_secret`` (``RLHF_OTEL_FEEDBACK_SECRET``).
        """
        from rlhf_otel._tokens import TokenKeys

        keys = TokenKeys.from_config(self.config)
        return keys.sign(interaction_id, types=types, user_id=user_id, ttl=ttl)


def create_rlhf_logger(
    config: RLHFConfig | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
    **options: Any,
) -> RLHFLogger:
    """Create a logger from a config or from keyword options (any :class:`RLHFConfig` field).

    Options given here win over ``RLHF_OTEL_*`` environment variables, which win over the
    defaults. Example::

        logger = create_rlhf_logger(backend="memory", batch_size=100)

    Raises:
        ConfigurationError: an unknown option or a value that is not allowed.
    """
    if config is not None and options:
        raise ConfigurationError("pass either config=RLHFConfig(...) or keyword options, not both")
    if options.get("store") is not None and "backend" not in options:
        options["backend"] = StorageBackend.CUSTOM
    return RLHFLogger(config or RLHFConfig.from_env(**options), tracer_provider=tracer_provider)
