"""RecordingHandler: start, stop or fail one LLM call. The one lifecycle that
``log_interaction``, ``@trace_llm`` and the OpenAI instrumentation share."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from rlhf_otel import attributes as A
from rlhf_otel._redact import ContentPolicy, record_exception
from rlhf_otel._session import SessionManager
from rlhf_otel.recording._build import build_feedback, build_interaction
from rlhf_otel.recording._call import LLMCall, prompt_index, reorder, split_messages
from rlhf_otel.recording._current import OPEN_SPANS, set_last_interaction_id
from rlhf_otel.recording._drafts import FeedbackDraft, InteractionDraft
from rlhf_otel.recording._encode import (
    feedback_links,
    feedback_to_attributes,
    interaction_span_name,
    interaction_to_attributes,
)
from rlhf_otel.recording._providers import UNKNOWN_PROVIDER, infer_provider
from rlhf_otel.recording._response import ResponseInfo
from rlhf_otel.recording._unseen import UnseenSpans
from rlhf_otel.records import Feedback, FeedbackSession, FeedbackType, Interaction

__all__ = ["LLMCall", "RecordSink", "RecordingHandler", "prompt_index"]

_log = logging.getLogger("rlhf_otel")
_FEEDBACK_SPAN_NAMES: Final = {t: f"feedback {t.value}" for t in FeedbackType}
_NOT_RECORDED: Final = "not_recorded_by_provider_sampler"
_MAX_SHAPES: Final = 1024


class RecordSink(Protocol):
    """Where a handler puts the records it built (``rlhf_otel.pipeline.RecordQueue``)."""

    @property
    def token(self) -> str:
        """The sink's process-local id, written on the spans of its records."""
        ...

    def put(self, record: Interaction | Feedback) -> None:
        """Take one finished record (never raises)."""
        ...

    def refuse(self, reason: str, n: int = 1) -> None:
        """Count ``n`` records accepted and lost at once for ``reason``."""
        ...


class RecordingHandler:
    """Records LLM calls and feedback, the same way for every producer.

    Each record is built once, final and immutable, and put on ``queue`` (the logger's
    :class:`~rlhf_otel.pipeline.RecordQueue`, which counts, batches and stores it). Its span
    is a projection of the same values for OpenTelemetry (other processors, OTLP), marked
    ``rlhf.record.queue`` so no exporter in this process stores it again. Without a queue
    the span is all there is (an ``RLHFSpanExporter`` decodes it). The handler owns the
    span's lifecycle, the content policy (redaction and size limits), the session and the
    last-interaction id. Nothing here raises into the caller's code on the telemetry path:
    :meth:`stop` and :meth:`fail` log and carry on.

    Args:
        tracer: where spans go (default: the global tracer provider's).
        policy: redaction and size limits applied to every text (default: none).
        sessions: the session manager whose current session a call belongs to.
        capture_content: record prompt and response texts at all.
        queue: where the records go (default: none; the spans carry them).

    Example::

        handler = logger.recording            # or RecordingHandler(tracer)
        with handler.start(model="gpt-4o-mini", provider="openai") as call:
            call.messages = messages
            call.response = read_response(client.chat.completions.create(...))
    """

    def __init__(
        self,
        tracer: Tracer | None = None,
        *,
        policy: ContentPolicy | None = None,
        sessions: SessionManager | None = None,
        capture_content: bool = True,
        queue: RecordSink | None = None,
    ) -> None:
        self.tracer = tracer if tracer is not None else trace.get_tracer("rlhf_otel")
        self.policy = policy
        self.sessions = sessions
        self.capture_content = capture_content
        self.queue = queue
        self._mark: dict[str, Any] = {} if queue is None else {A.RLHF_RECORD_QUEUE: queue.token}
        self._shapes: dict[tuple[str | None, ...], tuple[str, dict[str, Any], str]] = {}
        self._unseen = UnseenSpans(self.tracer) if queue is not None else None

    def _shape(
        self, model: str | None, provider: str | None, operation: str, name: str | None
    ) -> tuple[str, dict[str, Any], str]:
        """The provider, start attributes and span name of a call (the same for every call
        of one decorated function or one model, so made once; treat them as read-only)."""
        key = (model, provider, operation, name)
        shape = self._shapes.get(key)
        if shape is not None:
            return shape
        provider = provider or infer_provider(model)
        attrs: dict[str, Any] = {
            A.GEN_AI_OPERATION_NAME: operation,
            A.GEN_AI_PROVIDER_NAME: provider,
            A.RLHF_RECORD_KIND: A.RECORD_KIND_INTERACTION,
            **self._mark,
        }
        if model:
            attrs[A.GEN_AI_REQUEST_MODEL] = model
        shape = (provider, attrs, name or interaction_span_name(model, operation))
        if len(self._shapes) < _MAX_SHAPES:
            self._shapes[key] = shape
        return shape

    # -- one call ---------------------------------------------------------------------------

    def start(
        self,
        *,
        model: str | None = None,
        provider: str | None = None,
        operation: str = "chat",
        name: str | None = None,
        tracer: Tracer | None = None,
    ) -> LLMCall:
        """Start the span of one call (kind CLIENT, ``{operation} {model}``).

        ``provider`` defaults to the model name's family (``infer_provider``); ``tracer``
        (default: the handler's) lets an instrumentation keep its own scope name. The
        call's interaction id becomes ``last_interaction_id()`` at once.
        """
        provider, attrs, span_name = self._shape(model, provider, operation, name)
        span = (tracer or self.tracer).start_span(span_name, kind=SpanKind.CLIENT, attributes=attrs)
        ctx = span.get_span_context()
        interaction_id = f"{ctx.trace_id:032x}-{ctx.span_id:016x}"
        set_last_interaction_id(interaction_id)
        OPEN_SPANS.add(interaction_id, span, self.queue)
        session = None
        if self.sessions is not None:
            try:
                session = self.sessions.touch()
            except Exception:  # never break the user's call
                _log.warning("session lookup failed", exc_info=True)
        llm = LLMCall(
            self,
            span,
            interaction_id,
            model=model,
            provider=provider,
            operation=operation,
            named=name is not None,
            session=session,
        )
        llm.started = attrs
        return llm

    def stop(
        self,
        call: LLMCall,
        response: ResponseInfo | None = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        params: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        capture: bool = True,
        abandoned: bool = False,
        error: BaseException | None = None,
    ) -> str:
        """End the call with what it returned; returns the interaction id.

        Each argument left out is taken from the call (``call.response``,
        ``call.messages``, ...) when it was set there.

        Args:
            call: what :meth:`start` returned (stopping twice does nothing).
            response: the reply (default: ``call.response``, else what the streamed chunks
                said).
            messages: the whole conversation sent, in order; the last user message is the
                prompt, the others the context.
            params: request parameters (``temperature``, ``max_tokens``, ...).
            user_id: the end user, when the request names one (else the session's).
            capture: record texts for this call (and the handler's setting allows it).
            abandoned: the stream was dropped half read (finish reason ``abandoned``).
            error: what the call raised (recorded with ``error.type`` and status ERROR).
        """
        if call.ended:
            return call.interaction_id
        call.ended = True
        try:
            self._finish(
                call,
                response if response is not None else call.response,
                call.messages if messages is None else messages,
                call.params if params is None else params,
                user_id or call.user_id,
                capture,
                abandoned,
                error,
            )
        except Exception:  # our bug must not reach the user; the span still ends
            _log.warning("could not record an LLM call", exc_info=True)
        OPEN_SPANS.end(call.interaction_id, call.span)
        return call.interaction_id

    def fail(
        self,
        call: LLMCall,
        error: BaseException,
        response: ResponseInfo | None = None,
        **options: Any,
    ) -> str:
        """End the call as failed with ``error`` (same options as :meth:`stop`)."""
        return self.stop(call, response, error=error, **options)

    def _finish(
        self,
        call: LLMCall,
        response: ResponseInfo | None,
        messages: Sequence[Mapping[str, Any]] | None,
        params: Mapping[str, Any] | None,
        user_id: str | None,
        capture: bool,
        abandoned: bool,
        error: BaseException | None,
    ) -> None:
        span = call.span
        latency_ms = (time.perf_counter() - call._t0) * 1000.0
        if response is None:
            response = call.streamed()
        if not span.is_recording():
            if self.queue is not None:
                self.queue.refuse(_NOT_RECORDED)
            return
        capture = capture and self.capture_content
        session = call.session
        policy = self.policy
        at, prompt, context = split_messages(messages or ())
        text = response.text
        if policy is not None:
            prompt, text = policy.prompt(prompt), policy.response(text)
            limited = policy.context(context)
            if len(limited) != len(context):
                at = None  # some messages were cut: the order can no longer be kept
            context = limited
        if not capture:
            prompt, text, context, at = "", "", [], None
        provider = call.provider
        if provider == UNKNOWN_PROVIDER and response.model:
            provider = infer_provider(response.model)
        error_type = type(error).__qualname__ if error is not None else response.error_type
        draft = InteractionDraft(
            id=call.interaction_id,
            prompt=prompt,
            response=text,
            model=call.model or response.model,
            provider=provider,
            model_params=params or {},
            latency_ms=latency_ms,
            token_usage=response.usage,
            user_id=user_id or (session.user_id if session is not None else None),
            session_id=session.id if session is not None else None,
            context=context,
            response_id=response.response_id,
            finish_reasons=response.finish_reasons or (("abandoned",) if abandoned else ()),
            error_type=error_type,
            time_to_first_token_ms=None
            if call.first_chunk is None
            else (call.first_chunk - call._t0) * 1000.0,
        )
        attrs = interaction_to_attributes(
            draft,
            capture_content=capture,
            operation=call.operation,
            ordered=reorder(at, prompt, context) if capture else None,
            tool_calls=response.tool_calls if capture and response.tool_calls else None,
        )
        attrs[A.RLHF_INTERACTION_ID] = call.interaction_id
        if response.model:
            attrs[A.GEN_AI_RESPONSE_MODEL] = response.model
            if not call.named and not call.model:
                span.update_name(interaction_span_name(response.model, call.operation))
        # Set at span start already; sparing the SDK a second validation of each.
        for key, value in call.started.items():
            if attrs.get(key) == value:
                del attrs[key]
        span.set_attributes(attrs)
        if self.queue is not None:
            interaction_id = call.interaction_id  # "<32 hex trace id>-<16 hex span id>"
            self.queue.put(
                build_interaction(
                    draft,
                    interaction_id=interaction_id,
                    trace_hex=interaction_id[:32],
                    span_hex=interaction_id[33:],
                    start_ns=getattr(span, "start_time", None) or time.time_ns(),
                    capture_content=capture,
                )
            )
        if session is not None:
            session.interaction_ids.append(call.interaction_id)
        if error is not None:
            record_exception(span, error, policy)
        elif error_type is not None:
            span.set_status(Status(StatusCode.ERROR, error_type))

    # -- one record, all known --------------------------------------------------------------

    def record(self, draft: InteractionDraft, session: FeedbackSession | None = None) -> str:
        """Record an exchange that already happened (``log_interaction``): the span ends now
        and starts ``draft.latency_ms`` ago. ``draft`` is validated and redacted by the
        caller; the record is built from it once. Returns the interaction id. A draft with
        no provider gets the model name's family, as :meth:`start` does."""
        capture = self.capture_content
        if not draft.provider:
            draft.provider = infer_provider(draft.model)
        attrs = interaction_to_attributes(draft, capture_content=capture)
        end_ns = time.time_ns()
        start_ns = end_ns - int((draft.latency_ms or 0.0) * 1e6)
        if draft.id:
            attrs[A.RLHF_INTERACTION_ID] = draft.id
        if self._mark:
            attrs.update(self._mark)
        name = interaction_span_name(draft.model)
        unseen = self._unseen.ids(name, SpanKind.CLIENT, attrs) if self._unseen else None
        span: Span | None = None
        if unseen is None:
            span = made = self.tracer.start_span(
                name, kind=SpanKind.CLIENT, attributes=attrs, start_time=start_ns
            )
            ctx = made.get_span_context()
            trace_id, span_id, recording = ctx.trace_id, ctx.span_id, made.is_recording()
        else:
            trace_id, span_id, recording = unseen
        trace_hex, span_hex = f"{trace_id:032x}", f"{span_id:016x}"
        interaction_id = draft.id or trace_hex + "-" + span_hex
        queue = self.queue
        if queue is None:
            pass
        elif recording:
            queue.put(
                build_interaction(
                    draft,
                    interaction_id=interaction_id,
                    trace_hex=trace_hex,
                    span_hex=span_hex,
                    start_ns=start_ns,
                    capture_content=capture,
                )
            )
        else:
            queue.refuse(_NOT_RECORDED)
        if span is not None:
            if not draft.id:
                span.set_attribute(A.RLHF_INTERACTION_ID, interaction_id)
            span.end(end_ns)
        if session is not None:
            session.interaction_ids.append(interaction_id)
        set_last_interaction_id(interaction_id)
        return interaction_id

    def feedback(self, draft: FeedbackDraft) -> str:
        """Record feedback: an event on the interaction span while it is open in this
        process (and its record goes to the same queue), else a ``feedback {type}`` span
        linked to every target. ``draft`` is validated and redacted by the caller; the
        record is built from it once. Returns its id."""
        attrs = feedback_to_attributes(draft)
        queue = self.queue
        start_ns = time.time_ns()
        if draft.type is not FeedbackType.COMPARATIVE:
            host = OPEN_SPANS.add_event(
                draft.interaction_id,
                A.GEN_AI_EVALUATION_RESULT,
                attrs,
                owner=queue,
                timestamp=start_ns,
            )
            if host is not None:
                if queue is not None:
                    ctx = host.get_span_context()
                    self._put_feedback(draft, ctx.trace_id, ctx.span_id, start_ns)
                return draft.id
        if self._mark:
            attrs.update(self._mark)
        name, links = _FEEDBACK_SPAN_NAMES[draft.type], feedback_links(draft)
        unseen = self._unseen.ids(name, SpanKind.INTERNAL, attrs, links) if self._unseen else None
        if unseen is not None:
            if unseen.recording:
                self._put_feedback(draft, unseen.trace_id, unseen.span_id, start_ns)
            else:
                queue.refuse(_NOT_RECORDED)  # type: ignore[union-attr]
            return draft.id
        span = self.tracer.start_span(
            name, kind=SpanKind.INTERNAL, attributes=attrs, links=links, start_time=start_ns
        )
        if queue is None:
            pass
        elif span.is_recording():
            ctx = span.get_span_context()
            self._put_feedback(draft, ctx.trace_id, ctx.span_id, start_ns)
        else:
            queue.refuse(_NOT_RECORDED)
        span.end()
        return draft.id

    def _put_feedback(
        self, draft: FeedbackDraft, trace_id: int, span_id: int, start_ns: int
    ) -> None:
        assert self.queue is not None
        self.queue.put(
            build_feedback(
                draft,
                start_ns=start_ns,
                trace_hex=f"{trace_id:032x}",
                span_hex=f"{span_id:016x}",
            )
        )
