"""RLHFLogger: the guide's logger API as a thin facade over an OpenTelemetry tracer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

from rlhf_otel import _validate as V
from rlhf_otel._config import RLHFConfig
from rlhf_otel._counters import DropCounter
from rlhf_otel._errors import ConfigurationError, RLHFError, ValidationError
from rlhf_otel._logger_reads import ReadMethods, SessionMethods
from rlhf_otel._redact import ContentPolicy
from rlhf_otel._session import SessionManager
from rlhf_otel.pipeline import RecordQueue, RecordSpanProcessor
from rlhf_otel.recording import FeedbackDraft, InteractionDraft, RecordingHandler
from rlhf_otel.records import (
    FeedbackType,
    StorageBackend,
    TokenUsage,
    new_feedback_id,
    validate_id,
)
from rlhf_otel.stores import Store, as_store_base, open_store

__all__ = ["RLHFLogger", "create_rlhf_logger", "default_logger"]

_log = logging.getLogger("rlhf_otel")
_TRACER_NAME = "rlhf_otel"
_default_lock = threading.Lock()
_default: RLHFLogger | None = None


def default_logger() -> RLHFLogger | None:
    """The logger that ``@trace_llm`` uses when given none (the last one created, open)."""
    return _default


_FEEDBACK_OPTIONS: Final = frozenset(
    {"user_id", "session_id", "source", "metadata", "feedback_id", "supersedes"}
)


class RLHFLogger(SessionMethods, ReadMethods):
    """Logs interactions and feedback as spans and reads them back from its store.

    Every write returns at once (records go through a batching record queue); every read
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
        self._store_ops = as_store_base(self.store)
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
        self.tracer_provider = self._resolve_provider(tracer_provider)
        # Spans of other libraries that reach this provider become records on the same queue.
        self.span_records = RecordSpanProcessor(self.queue)
        self.tracer_provider.add_span_processor(self.span_records)
        self._otlp_processor = self._add_otlp(config)
        self.tracer: Tracer = self.tracer_provider.get_tracer(_TRACER_NAME)
        self.recording = RecordingHandler(
            self.tracer,
            policy=self._content,
            sessions=self.sessions,
            capture_content=config.capture_content,
            queue=self.queue,
        )
        """The recording handler this logger's producers use (see ``RecordingHandler``)."""
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
        self._store_ops.initialize()
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
        params = V.metadata(model_params, "model_params")
        model = V.identifier("model", model)
        provider = V.identifier("provider", provider)
        user, sid, session = self._who(user_id, session_id)
        c = self._content
        default_meta = self.config.default_metadata
        draft = InteractionDraft(
            id=interaction_id or "",
            prompt=c.prompt(prompt),
            response=c.response(response),
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
        interaction_id = self.recording.record(draft, session)
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
        source = self._content.ident(V.identifier("source", options.get("source")))
        meta = V.metadata(options.get("metadata"))
        user, sid, session = self._who(options.get("user_id"), options.get("session_id"))
        c = self._content
        for key in ("comment", "reason", "overall_comment", "correction"):
            if data.get(key) is not None:
                data[key] = c.comment(data[key])
        if ftype is FeedbackType.COMPARATIVE:
            targets = (data["preferred_response_id"], *data["compared_response_ids"])
        else:
            targets = (target,)
        default_meta = self.config.default_metadata
        draft = FeedbackDraft(
            id=feedback_id or new_feedback_id(),
            interaction_id=target,
            type=ftype,
            data=data,
            user_id=user,
            session_id=sid,
            source=source,
            metadata=c.metadata({**default_meta, **meta} if default_meta else meta),
            target_ids=targets,
            supersedes=supersedes,
        )
        self.recording.feedback(draft)
        if session is not None:
            session.feedback_ids.append(draft.id)
        self._dbg("Logged feedback: %s", draft.id)
        return draft.id

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
