"""RecordingHandler: start, stop or fail one LLM call. The one lifecycle that
``log_interaction``, ``@trace_llm`` and the OpenAI instrumentation share."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from rlhf_otel import attributes as A
from rlhf_otel._counters import DropCounter
from rlhf_otel._redact import ContentPolicy, record_exception
from rlhf_otel._session import SessionManager
from rlhf_otel.recording._current import OPEN_SPANS, set_last_interaction_id
from rlhf_otel.recording._encode import (
    feedback_links,
    feedback_to_attributes,
    interaction_span_name,
    interaction_to_attributes,
)
from rlhf_otel.recording._providers import UNKNOWN_PROVIDER, infer_provider
from rlhf_otel.recording._response import ChunkAccumulator, ResponseInfo, StreamAccumulator
from rlhf_otel.recording._spans import prebuilt_feedback, prebuilt_interaction
from rlhf_otel.records import Feedback, FeedbackSession, FeedbackType, Interaction

__all__ = ["LLMCall", "RecordingHandler", "prompt_index"]

_log = logging.getLogger("rlhf_otel")
_FEEDBACK_SPAN_NAMES: Final = {t: f"feedback {t.value}" for t in FeedbackType}
# A draft record's timestamp before the span's start time is known (never stored).
_UNSET_TIME: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_PREBUILT_LIMIT: Final = 500_000


def prompt_index(messages: Sequence[Mapping[str, Any]]) -> int | None:
    """Where the prompt (the last user message) is in ``messages``, if anywhere."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return None


class LLMCall:
    """One call between :meth:`RecordingHandler.start` and its stop or fail.

    ``interaction_id`` is known from the start (hand it to a frontend at once);
    :meth:`chunk` folds a streamed chunk in and notes the time of the first one.
    """

    __slots__ = (
        "_t0",
        "accumulator",
        "ended",
        "first_chunk",
        "interaction_id",
        "model",
        "named",
        "operation",
        "provider",
        "session",
        "span",
        "started",
    )

    def __init__(
        self,
        span: Span,
        interaction_id: str,
        *,
        model: str | None,
        provider: str,
        operation: str,
        named: bool,
        session: FeedbackSession | None,
    ) -> None:
        self.span = span
        self.interaction_id = interaction_id
        self.model = model
        self.provider = provider
        self.operation = operation
        self.named = named
        self.session = session
        self.accumulator: ChunkAccumulator | None = None
        self.first_chunk: float | None = None
        self.ended = False
        self.started: dict[str, Any] = {}
        self._t0 = time.perf_counter()

    def chunk(self, chunk: Any) -> None:
        """Fold one streamed chunk (or event) into the response; never raises."""
        if self.first_chunk is None:
            self.first_chunk = time.perf_counter()
        try:
            if self.accumulator is None:
                self.accumulator = StreamAccumulator()
            self.accumulator.add(chunk)
        except Exception:
            _log.debug("could not read a streamed chunk", exc_info=True)

    def streamed(self) -> ResponseInfo:
        """What the chunks seen so far say."""
        return ResponseInfo() if self.accumulator is None else self.accumulator.result()


class RecordingHandler:
    """Records LLM calls and feedback as spans, the same way for every producer.

    It owns the span's lifecycle, the content policy (redaction and size limits), the
    session, counting of accepted records, the last-interaction id and the hand-off of
    records it already built to the exporter (so they are not decoded again). Nothing here
    raises into the caller's code on the telemetry path: :meth:`stop` and :meth:`fail`
    log and carry on.

    Args:
        tracer: where spans go (default: the global tracer provider's).
        policy: redaction and size limits applied to every text (default: none).
        sessions: the session manager whose current session a call belongs to.
        capture_content: record prompt and response texts at all.
        drops: where records lost before any exporter saw them are counted.
        hand_off: keep each record built for a span until an ``RLHFSpanExporter`` (given
            this handler as ``prebuilt``) takes it, so it is not decoded again; only for a
            handler wired to such an exporter (a logger's is).

    Example::

        handler = logger.recording            # or RecordingHandler(tracer)
        call = handler.start(model="gpt-4o-mini", provider="openai")
        ...
        handler.stop(call, read_response(reply), messages=messages)
    """

    def __init__(
        self,
        tracer: Tracer | None = None,
        *,
        policy: ContentPolicy | None = None,
        sessions: SessionManager | None = None,
        capture_content: bool = True,
        drops: DropCounter | None = None,
        hand_off: bool = False,
    ) -> None:
        self.hand_off = hand_off
        self.tracer = tracer if tracer is not None else trace.get_tracer("rlhf_otel")
        self.policy = policy
        self.sessions = sessions
        self.capture_content = capture_content
        self.drops = drops if drops is not None else DropCounter()
        self._accepted = 0
        self._lock = threading.Lock()
        self._prebuilt: dict[int, Interaction | Feedback] = {}

    # -- counting and the exporter hand-off ------------------------------------------------

    @property
    def accepted(self) -> int:
        """Records accepted so far (each is later stored or counted as dropped)."""
        return self._accepted

    def _count(self) -> None:
        with self._lock:
            self._accepted += 1

    def _accept(self, span: Span, record: Interaction | Feedback) -> None:
        self._count()
        if span.is_recording():
            table = self._prebuilt
            if len(table) >= _PREBUILT_LIMIT:  # spans that never reached our exporter
                table.clear()
            table[span.get_span_context().span_id] = record
        else:
            # The provider's own sampler dropped the span: no exporter will ever see it.
            self.drops.add("not_recorded_by_provider_sampler")

    def take(self, span_id: int) -> Interaction | Feedback | None:
        """The record this handler built for a span, handed over once (for the exporter)."""
        return self._prebuilt.pop(span_id, None)

    def forget(self, span_id: int) -> None:
        """Drop the record of a span that will never be exported."""
        self._prebuilt.pop(span_id, None)

    def clear(self) -> None:
        """Forget every record not yet handed over (in a forked child)."""
        self._prebuilt.clear()

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
        provider = provider or infer_provider(model)
        attrs: dict[str, Any] = {
            A.GEN_AI_OPERATION_NAME: operation,
            A.GEN_AI_PROVIDER_NAME: provider,
            A.RLHF_RECORD_KIND: A.RECORD_KIND_INTERACTION,
        }
        if model:
            attrs[A.GEN_AI_REQUEST_MODEL] = model
        span = (tracer or self.tracer).start_span(
            name or interaction_span_name(model, operation), kind=SpanKind.CLIENT, attributes=attrs
        )
        ctx = span.get_span_context()
        interaction_id = f"{ctx.trace_id:032x}-{ctx.span_id:016x}"
        set_last_interaction_id(interaction_id)
        OPEN_SPANS.add(interaction_id, span)
        session = None
        if self.sessions is not None:
            try:
                session = self.sessions.touch()
            except Exception:  # never break the user's call
                _log.warning("session lookup failed", exc_info=True)
        llm = LLMCall(
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
        """End the call's span with what it returned; returns the interaction id.

        Args:
            call: what :meth:`start` returned (stopping twice does nothing).
            response: the reply (default: what the streamed chunks said).
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
            self._finish(call, response, messages, params, user_id, capture, abandoned, error)
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
        """End the call's span as failed with ``error`` (same options as :meth:`stop`)."""
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
            self._count()
            self.drops.add("not_recorded_by_provider_sampler")
            return
        capture = capture and self.capture_content
        session = call.session
        policy = self.policy
        ordered, prompt, context = _split(messages or ())
        text = response.text
        if policy is not None:
            prompt, text = policy.prompt(prompt), policy.response(text)
            limited = policy.context(context)
            if len(limited) != len(context):
                ordered = None  # some messages were cut: the order can no longer be kept
            context = limited
        if not capture:
            prompt, text, context, ordered = "", "", [], None
        model = call.model or response.model
        provider = call.provider
        if provider == UNKNOWN_PROVIDER and response.model:
            provider = infer_provider(response.model)
        finish = response.finish_reasons or (("abandoned",) if abandoned else ())
        error_type = type(error).__qualname__ if error is not None else response.error_type
        start_ns = getattr(span, "start_time", None) or time.time_ns()
        record = Interaction(
            id=call.interaction_id,
            prompt=prompt,
            response=text,
            timestamp=_UNSET_TIME,
            model=model,
            provider=provider,
            model_params=dict(params) if params else {},
            latency_ms=latency_ms,
            token_usage=response.usage,
            user_id=user_id or (session.user_id if session is not None else None),
            session_id=session.id if session is not None else None,
            context=context,
            response_id=response.response_id,
            finish_reasons=finish,
            error_type=error_type,
            time_to_first_token_ms=None
            if call.first_chunk is None
            else (call.first_chunk - call._t0) * 1000.0,
        )
        attrs = interaction_to_attributes(
            record,
            capture_content=capture,
            operation=call.operation,
            ordered=_reorder(ordered, prompt, context) if capture else None,
            tool_calls=response.tool_calls if capture and response.tool_calls else None,
        )
        attrs[A.RLHF_INTERACTION_ID] = call.interaction_id
        if response.model:
            attrs[A.GEN_AI_RESPONSE_MODEL] = response.model
            if not call.named and not call.model:
                span.update_name(interaction_span_name(response.model, call.operation))
        # Set at span start already; sparing the SDK a second validation of each.
        new = {k: v for k, v in attrs.items() if k not in call.started or call.started[k] != v}
        span.set_attributes(new)
        if self.hand_off:
            ctx = span.get_span_context()
            self._accept(
                span,
                prebuilt_interaction(
                    record,
                    attrs,
                    interaction_id=call.interaction_id,
                    trace_hex=f"{ctx.trace_id:032x}",
                    span_hex=f"{ctx.span_id:016x}",
                    start_ns=start_ns,
                    capture_content=capture,
                ),
            )
        else:
            self._count()
        if session is not None:
            session.interaction_ids.append(call.interaction_id)
        if error is not None:
            record_exception(span, error, policy)
        elif error_type is not None:
            span.set_status(Status(StatusCode.ERROR, error_type))

    # -- one record, all known --------------------------------------------------------------

    def record(self, draft: Interaction, session: FeedbackSession | None = None) -> str:
        """Record an exchange that already happened (``log_interaction``): the span ends now
        and starts ``draft.latency_ms`` ago. ``draft`` is validated and redacted by the
        caller, becomes the stored record, and must not be shared. Returns its id.
        A draft with no provider gets the model name's family, as :meth:`start` does."""
        capture = self.capture_content
        if not draft.provider:
            # The draft is ours alone until it is handed over (see prebuilt_interaction).
            object.__setattr__(draft, "provider", infer_provider(draft.model))
        attrs = interaction_to_attributes(draft, capture_content=capture)
        end_ns = time.time_ns()
        start_ns = end_ns - int((draft.latency_ms or 0.0) * 1e6)
        if draft.id:
            attrs[A.RLHF_INTERACTION_ID] = draft.id
        span = self.tracer.start_span(
            interaction_span_name(draft.model),
            kind=SpanKind.CLIENT,
            attributes=attrs,
            start_time=start_ns,
        )
        ctx = span.get_span_context()
        trace_hex, span_hex = f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
        interaction_id = draft.id or f"{trace_hex}-{span_hex}"
        if not draft.id:
            span.set_attribute(A.RLHF_INTERACTION_ID, interaction_id)
        if self.hand_off:
            self._accept(
                span,
                prebuilt_interaction(
                    draft,
                    attrs,
                    interaction_id=interaction_id,
                    trace_hex=trace_hex,
                    span_hex=span_hex,
                    start_ns=start_ns,
                    capture_content=capture,
                ),
            )
        else:
            self._count()
        span.end(end_ns)
        if session is not None:
            session.interaction_ids.append(interaction_id)
        set_last_interaction_id(interaction_id)
        return interaction_id

    def feedback(self, draft: Feedback) -> str:
        """Record feedback: an event on the interaction span while it is open in this
        process, else a ``feedback {type}`` span linked to every target. ``draft`` is
        validated and redacted by the caller and must not be shared. Returns its id."""
        attrs = feedback_to_attributes(draft)
        if draft.type is not FeedbackType.COMPARATIVE and OPEN_SPANS.add_event(
            draft.interaction_id, A.GEN_AI_EVALUATION_RESULT, attrs
        ):
            self._count()
            return draft.id
        start_ns = time.time_ns()
        span = self.tracer.start_span(
            _FEEDBACK_SPAN_NAMES[draft.type],
            kind=SpanKind.INTERNAL,
            attributes=attrs,
            links=feedback_links(draft),
            start_time=start_ns,
        )
        ctx = span.get_span_context()
        if self.hand_off:
            self._accept(span, prebuilt_feedback(draft, attrs, start_ns, ctx.trace_id, ctx.span_id))
        else:
            self._count()
        span.end()
        return draft.id


def _split(
    messages: Sequence[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]] | None, str, list[dict[str, Any]]]:
    """The messages in order (``None`` when there are none), the prompt and the context."""
    if not messages:
        return None, "", []
    index = prompt_index(messages)
    if index is None:
        return list(messages), "", [dict(m) for m in messages]
    prompt = messages[index].get("content")
    context = [dict(m) for i, m in enumerate(messages) if i != index]
    return list(messages), prompt if isinstance(prompt, str) else "", context


def _reorder(
    ordered: list[Mapping[str, Any]] | None, prompt: str, context: list[dict[str, Any]]
) -> list[Mapping[str, Any]] | None:
    """The (redacted) messages in the order they were sent, if that order is known."""
    if ordered is None:
        return None
    index = prompt_index(ordered)
    if index is None or index == len(ordered) - 1:
        return None  # context-then-prompt is the order they were sent in
    out: list[Mapping[str, Any]] = list(context)
    if index is not None:
        out.insert(index, {"role": "user", "content": prompt})
    return out
