"""RLHFLogger: the guide's logger API as a thin facade over an OpenTelemetry tracer."""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

from rlhf_otel import _validate as V
from rlhf_otel._config import RLHFConfig
from rlhf_otel._counters import DropCounter
from rlhf_otel._errors import ConfigurationError, RLHFError, ValidationError
from rlhf_otel._redact import ContentPolicy
from rlhf_otel._session import SessionManager
from rlhf_otel.pipeline import RLHFSpanExporter, RLHFSpanProcessor
from rlhf_otel.recording import RecordingHandler
from rlhf_otel.records import (
    Feedback,
    FeedbackFilter,
    FeedbackSession,
    FeedbackStats,
    FeedbackType,
    Interaction,
    InteractionFilter,
    StorageBackend,
    TokenUsage,
    compute_stats,
    new_feedback_id,
    validate_id,
)
from rlhf_otel.stores import Store, open_store, store_dropped

__all__ = ["RLHFLogger", "create_rlhf_logger", "default_logger"]

_log = logging.getLogger("rlhf_otel")
_TRACER_NAME = "rlhf_otel"
_default_lock = threading.Lock()
_default: RLHFLogger | None = None
# A draft record's timestamp before the span's start time is known (never stored).
_UNSET_TIME: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)


def default_logger() -> RLHFLogger | None:
    """The logger that ``@trace_llm`` uses when given none (the last one created, open)."""
    return _default


_FEEDBACK_OPTIONS: Final = frozenset(
    {"user_id", "session_id", "source", "metadata", "feedback_id", "supersedes"}
)

class RLHFLogger:
    """Logs interactions and feedback as spans and reads them back from its store.

    Every write returns at once (records go through a batching span processor); every read
    first exports what is pending, so it sees the writes before it. Usable as a context
    manager (``initialize`` on enter, ``close`` on exit).

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
        self.recording = RecordingHandler(
            policy=self._content,
            sessions=self.sessions,
            capture_content=config.capture_content,
            drops=self._drops,
        )
        """The recording handler this logger's producers use (see ``RecordingHandler``)."""
        self.exporter = RLHFSpanExporter(
            self.store, sample_rate=config.sample_rate, drops=self._drops, prebuilt=self.recording
        )
        self.processor = RLHFSpanProcessor(
            self.exporter,
            batch_size=config.batch_size,
            schedule_delay=config.batch_flush_interval,
            max_queue_size=config.max_queue_size,
            batching=config.enable_batching,
            drops=self._drops,
        )
        self.tracer_provider = self._resolve_provider(tracer_provider)
        self.tracer_provider.add_span_processor(self.processor)
        self._otlp_processor = self._add_otlp(config)
        self.tracer: Tracer = self.tracer_provider.get_tracer(_TRACER_NAME)
        self.recording.tracer = self.tracer
        self._initialized = False
        self._closed = False
        self._debug = config.debug
        global _default
        with _default_lock:
            _default = self

    # -- wiring ---------------------------------------------------------------------------

    def _resolve_provider(self, provider: TracerProvider | None) -> TracerProvider:
        if provider is not None:
            return provider
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            return current
        own = TracerProvider()
        if self.config.set_global_tracer_provider:
            trace.set_tracer_provider(own)
            _log.info("rlhf-otel created a TracerProvider and set it as the global one")
        else:
            _log.info("rlhf-otel created a private TracerProvider (no global provider was set)")
        return own

    def _add_otlp(self, config: RLHFConfig) -> Any:
        if not config.otlp_endpoint:
            return None
        from rlhf_otel.pipeline import add_otlp_export

        return add_otlp_export(self.tracer_provider, config)

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
        init = getattr(self.store, "initialize", None)
        if init is not None:
            init()
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
            seconds (default ``config.export_timeout``) or the store failed to flush.
        """
        timeout = self.config.export_timeout if timeout is None else timeout
        self._dbg("Flushing: %d pending", self.processor.pending)
        return self.processor.force_flush(int(timeout * 1000))

    def close(self) -> None:
        """Flush, end the sessions, shut the pipeline down and close the store (idempotent).

        A tracer provider that the logger did not create is left running.
        """
        if self._closed:
            return
        self._dbg("Closing RLHFLogger")
        self.sessions.end_all()
        self.processor.shutdown()
        if self._otlp_processor is not None:
            self._otlp_processor.shutdown()
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

    def delivery(self) -> dict[str, Any]:
        """What happened to the records logged so far.

        Returns:
            ``accepted`` (records logged), ``stored`` (written to the store), ``pending``
            (still queued), ``sampled_out``, ``dropped`` (by reason, the store's own losses
            included) and ``truncated`` (texts cut to the size limits); with OTLP export,
            ``otlp`` gives that path's own ``pending`` and ``dropped``.
        """
        dropped = dict(self._drops.snapshot())
        for reason, n in store_dropped(self.store).items():
            dropped[f"store:{reason}"] = dropped.get(f"store:{reason}", 0) + n
        return {
            "accepted": self.recording.accepted,
            "stored": self.exporter.stored,
            "pending": self.processor.pending,
            "sampled_out": self.exporter.sampled_out,
            "dropped": dropped,
            "truncated": self._content.truncated,
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

    # -- sessions -------------------------------------------------------------------------

    def start_session(
        self, user_id: str | None = None, metadata: Mapping[str, Any] | None = None
    ) -> str:
        """Start a session current in this context (ending its previous one); returns its id."""
        V.optional_str("user_id", user_id)
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
        V.optional_str("user_id", user_id)
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
        user = V.optional_str("user_id", user_id)
        sid = V.optional_str("session_id", session_id)
        session = self.sessions.touch()
        if session is not None:
            user = user or session.user_id
            sid = sid or session.id
        if user is None and not self.config.allow_anonymous:
            raise ValidationError(
                "a user id is required (allow_anonymous=False): pass user_id=... or log inside "
                "a session started with a user id"
            )
        return user, sid, session

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
        if not isinstance(prompt, str) or not isinstance(response, str):
            raise ValidationError("prompt and response must be strings")
        if interaction_id is not None:
            interaction_id = validate_id(interaction_id)
        elif not self.config.auto_generate_ids:
            raise ValidationError(
                "Interaction ID required when autoGenerateIds is disabled: pass "
                "interaction_id=... (auto_generate_ids=False)"
            )
        latency_ms = None if latency is None else V.finite_number("latency", latency)
        if latency_ms is not None and latency_ms < 0:
            raise ValidationError(f"latency must be >= 0 milliseconds; got {latency_ms:g}")
        usage = V.token_usage(token_usage)
        ctx = V.context_messages(context)
        meta = V.metadata(metadata)
        params = V.metadata(model_params)
        V.optional_str("model", model)
        V.optional_str("provider", provider)
        user, sid, session = self._who(user_id, session_id)
        c = self._content
        default_meta = self.config.default_metadata
        record = Interaction(
            id=interaction_id or "",
            prompt=c.prompt(prompt),
            response=c.response(response),
            timestamp=_UNSET_TIME,  # the span's start time, set by the recording handler
            model=model,
            provider=provider,
            model_params=params,
            latency_ms=latency_ms,
            token_usage=usage,
            user_id=user,
            session_id=sid,
            context=c.context(ctx) if ctx else [],
            metadata=c.metadata({**default_meta, **meta} if default_meta else meta),
            response_id=response_id,
            finish_reasons=tuple(finish_reasons) if finish_reasons else (),
        )
        interaction_id = self.recording.record(record, session)
        self._dbg("Logged interaction: %s", interaction_id)
        return interaction_id

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
        self, interaction_id: str, comment: str, sentiment: str | None = None, **options: Any
    ) -> str:
        """A written comment with an optional sentiment (positive, negative, neutral)."""
        data = V.text_data(comment, sentiment)
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
        **options: Any,
    ) -> str:
        """One response preferred over the others (links every one of them)."""
        data = V.comparative_data(
            preferred_response_id, compared_response_ids, reason, confidence_level
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
        if ftype is FeedbackType.COMPARATIVE:
            interaction_id = clean["preferred_response_id"]
        return self._feedback(ftype, interaction_id, clean, options)

    def _feedback(
        self,
        ftype: FeedbackType,
        interaction_id: str,
        data: dict[str, Any],
        options: Mapping[str, Any],
    ) -> str:
        self._check_open()
        unknown = set(options) - _FEEDBACK_OPTIONS
        if unknown:
            raise ValidationError(
                f"unknown option(s) {sorted(unknown)}; allowed: user_id, session_id, source, "
                "metadata, feedback_id, supersedes"
            )
        target = validate_id(interaction_id)
        feedback_id = options.get("feedback_id")
        if feedback_id is not None:
            feedback_id = validate_id(feedback_id, "feedback id")
        elif not self.config.auto_generate_ids:
            raise ValidationError(
                "Feedback ID required when autoGenerateIds is disabled: pass feedback_id=..."
            )
        supersedes = options.get("supersedes")
        if supersedes is not None:
            supersedes = validate_id(supersedes, "superseded feedback id")
        source = V.optional_str("source", options.get("source"))
        meta = V.metadata(options.get("metadata"))
        user, sid, session = self._who(options.get("user_id"), options.get("session_id"))
        c = self._content
        for key in ("comment", "reason", "overall_comment"):
            if data.get(key) is not None:
                data[key] = c.comment(data[key])
        if ftype is FeedbackType.COMPARATIVE:
            targets = (data["preferred_response_id"], *data["compared_response_ids"])
        else:
            targets = (target,)
        default_meta = self.config.default_metadata
        record = Feedback(
            id=feedback_id or new_feedback_id(),
            interaction_id=target,
            type=ftype,
            data=data,
            timestamp=_UNSET_TIME,  # set from the span's start time below
            user_id=user,
            session_id=sid,
            source=source,
            metadata=c.metadata({**default_meta, **meta} if default_meta else meta),
            target_ids=targets,
            supersedes=supersedes,
        )
        self.recording.feedback(record)
        if session is not None:
            session.feedback_ids.append(record.id)
        self._dbg("Logged feedback: %s", record.id)
        return record.id

    # -- reads ----------------------------------------------------------------------------

    def _sync(self) -> None:
        if not self._closed:
            self.processor.force_flush(int(self.config.export_timeout * 1000))

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

        ``before`` removes everything logged earlier; ``user_id`` every record of that user;
        both together, that user's records before the time. Pending records are written
        first, so nothing logged before the call escapes it.

        Raises:
            ValidationError: neither ``before`` nor ``user_id`` was given.
            RLHFError: the store cannot delete records.
        """
        if before is None and user_id is None:
            raise ValidationError("purge needs before=<datetime> and/or user_id=<str>")
        purge = getattr(self.store, "purge", None)
        if purge is None:
            raise RLHFError(f"store {type(self.store).__name__} cannot delete records (no purge)")
        self._sync()
        removed: int = purge(before=before, user_id=user_id)
        return removed

    def get_feedback_stats(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> FeedbackStats:
        """Statistics of the records in ``[start, end]`` (see :class:`FeedbackStats`)."""
        self._sync()
        return compute_stats(self.store, start, end)

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
