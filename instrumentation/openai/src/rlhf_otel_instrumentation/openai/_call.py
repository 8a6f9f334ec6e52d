"""One instrumented call: span start, response or error, span end. No wrapping logic here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from time import perf_counter
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from rlhf_otel import attributes as A
from rlhf_otel._logger import RLHFLogger, default_logger
from rlhf_otel.recording._current import OPEN_SPANS, set_last_interaction_id
from rlhf_otel.recording._spans import INTERACTION_OPERATIONS, interaction_span_name

from ._extract import (
    CHAT,
    COMPLETIONS,
    READERS,
    RESPONSES,
    ChatChunkAccumulator,
    CompletionChunkAccumulator,
    Kind,
    RequestInfo,
    ResponseInfo,
    ResponsesEventAccumulator,
    build_interaction,
    interaction_attributes,
    read_request,
)
from ._provider import provider_for_host

__all__ = ["SUPERSEDED", "Call", "Settings", "begin", "log_failure"]

_logger = logging.getLogger("rlhf_otel_instrumentation.openai")

SUPERSEDED: Final = "superseded"
"""``rlhf.record.kind`` given to another library's GenAI span that encloses ours, so the
exporter stores one interaction per call (the store skips kinds it does not know)."""

_ACTIVE_KEY: Final = otel_context.create_key("rlhf_otel_openai_call")
_RAW_HEADER: Final = "X-Stainless-Raw-Response"
_logged: set[str] = set()


def log_failure(where: str) -> None:
    """Log a failure of our own code once per place; the user's call goes on regardless."""
    if where not in _logged:
        _logged.add(where)
        _logger.warning("rlhf-otel OpenAI instrumentation failed in %s", where, exc_info=True)
    else:
        _logger.debug("rlhf-otel OpenAI instrumentation failed in %s", where, exc_info=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What every wrapper of one ``instrument()`` / ``instrument_client()`` call shares."""

    tracer: Tracer
    tracer_provider: trace.TracerProvider | None = None
    logger: RLHFLogger | None = None
    capture_content: bool = True
    request_stream_usage: bool = False
    provider_name: str | None = None
    provider_hosts: Mapping[str, str] = field(default_factory=dict)
    stream_types: tuple[type, ...] = ()
    async_stream_types: tuple[type, ...] = ()
    raw_response_types: tuple[type, ...] = ()
    providers: dict[tuple[str, int | None], str] = field(default_factory=dict)

    def logger_for_spans(self) -> RLHFLogger | None:
        """The logger whose pipeline receives our spans (its content policy, sessions and
        delivery counts apply to them), if any: the one given, else the default one."""
        logger = self.logger or default_logger()
        if logger is None:
            return None
        provider = self.tracer_provider or trace.get_tracer_provider()
        return logger if logger.tracer_provider is provider else None

    def provider_of(self, instance: Any) -> str:
        """The provider name for the client behind a resource object."""
        if self.provider_name is not None:
            return self.provider_name
        url = instance._client.base_url
        key = (url.host, url.port)
        found = self.providers.get(key)
        if found is None:
            found = provider_for_host(url.host, url.port, self.provider_hosts)
            if len(self.providers) < 256:
                self.providers[key] = found
        return found


def _mark_enclosing_genai_span() -> None:
    parent = trace.get_current_span()
    attrs = getattr(parent, "attributes", None)
    if (
        attrs
        and parent.is_recording()
        and attrs.get(A.GEN_AI_OPERATION_NAME) in INTERACTION_OPERATIONS
        and A.RLHF_RECORD_KIND not in attrs
    ):
        parent.set_attribute(A.RLHF_RECORD_KIND, SUPERSEDED)


def _accumulator(kind: Kind) -> Any:
    if kind is CHAT:
        return ChatChunkAccumulator()
    if kind is COMPLETIONS:
        return CompletionChunkAccumulator()
    return ResponsesEventAccumulator()


def _wants_passthrough(kwargs: Mapping[str, Any]) -> bool:
    # with_streaming_response (body left unread for the caller) and raw streamed responses
    # would have to be consumed or re-wrapped by us to be recorded: leave them alone.
    headers = kwargs.get("extra_headers")
    if not headers:
        return False
    raw = headers.get(_RAW_HEADER)
    return raw == "stream" or (raw == "true" and kwargs.get("stream") is True)


def begin(settings: Settings, kind: Kind, instance: Any, kwargs: dict[str, Any]) -> Call | None:
    """Start the interaction span of a call, or ``None`` to call through untouched.

    Never raises: a failure here is logged and the call proceeds uninstrumented.
    """
    if otel_context.get_value(_ACTIVE_KEY) or not is_instrumentation_enabled():
        return None
    try:
        if _wants_passthrough(kwargs):
            return None
        if kind is CHAT:
            messages = kwargs.get("messages")
            if messages is not None and not isinstance(messages, (list, tuple)):
                kwargs = {**kwargs, "messages": list(messages)}
        elif kind is RESPONSES:
            items = kwargs.get("input")
            if items is not None and not isinstance(items, (str, list, tuple)):
                kwargs = {**kwargs, "input": list(items)}
        if (
            settings.request_stream_usage
            and kind is not RESPONSES
            and kwargs.get("stream") is True
            and not kwargs.get("stream_options")
        ):
            kwargs = {**kwargs, "stream_options": {"include_usage": True}}
        _mark_enclosing_genai_span()
        request = read_request(kind, kwargs, settings.capture_content)
        provider = settings.provider_of(instance)
        start_attrs: dict[str, AttributeValue] = {
            A.GEN_AI_OPERATION_NAME: kind.operation,
            A.GEN_AI_PROVIDER_NAME: provider,
            A.RLHF_RECORD_KIND: A.RECORD_KIND_INTERACTION,
        }
        if request.model:
            start_attrs[A.GEN_AI_REQUEST_MODEL] = request.model
        span = settings.tracer.start_span(
            interaction_span_name(request.model, kind.operation),
            kind=SpanKind.CLIENT,
            attributes=start_attrs,
        )
        ctx = span.get_span_context()
        interaction_id = None
        if ctx.is_valid:
            interaction_id = f"{ctx.trace_id:032x}-{ctx.span_id:016x}"
            set_last_interaction_id(interaction_id)
        token = otel_context.attach(
            otel_context.set_value(_ACTIVE_KEY, True, trace.set_span_in_context(span))
        )
        call = Call(settings, kind, request, provider, span, token, kwargs, interaction_id)
        call.start_attrs = start_attrs
        if interaction_id is not None and span.is_recording():
            call.logger = logger = settings.logger_for_spans()
            if logger is not None:
                call.session = logger.sessions.touch()
            OPEN_SPANS.add(interaction_id, span)
        return call
    except Exception:
        log_failure("span start")
        return None


class Call:
    """The state of one instrumented call, from ``begin`` to the end of its span."""

    __slots__ = (
        "_ended",
        "_start",
        "_token",
        "first_chunk",
        "interaction_id",
        "kind",
        "kwargs",
        "logger",
        "provider",
        "request",
        "session",
        "settings",
        "start_attrs",
        "span",
    )

    def __init__(
        self,
        settings: Settings,
        kind: Kind,
        request: RequestInfo,
        provider: str,
        span: trace.Span,
        token: object,
        kwargs: dict[str, Any],
        interaction_id: str | None,
    ) -> None:
        self.settings = settings
        self.kind = kind
        self.request = request
        self.provider = provider
        self.span = span
        self._token = token
        self.kwargs = kwargs
        self.interaction_id = interaction_id
        self._start = perf_counter()
        self.first_chunk: float | None = None
        self._ended = False
        self.logger: RLHFLogger | None = None
        self.session: Any = None
        self.start_attrs: dict[str, AttributeValue] = {}

    def _detach(self) -> None:
        token, self._token = self._token, None
        if token is not None:
            try:
                otel_context.detach(token)  # type: ignore[arg-type]  # our own attach token
            except Exception:
                log_failure("context detach")

    def finish(self, result: Any) -> Any:
        """The call returned: record it (or hand back a stream proxy). Returns what the
        caller gets, which is ``result`` itself unless it is a stream."""
        self._detach()
        try:
            if not self.span.is_recording():
                self._end_span()
                return result
            settings = self.settings
            if isinstance(result, settings.stream_types):
                from ._streams import StreamProxy

                return StreamProxy(result, self, _accumulator(self.kind))
            if isinstance(result, settings.async_stream_types):
                from ._streams import AsyncStreamProxy

                return AsyncStreamProxy(result, self, _accumulator(self.kind))
            parsed: Any = result
            if isinstance(result, settings.raw_response_types):
                parsed = getattr(result, "parse")()  # noqa: B009  # LegacyAPIResponse, cached
            self.end(READERS[self.kind](parsed))
        except Exception:
            log_failure("response handling")
            self._end_span()
        return result

    def fail(self, exc: BaseException) -> None:
        """The call raised ``exc`` (which the wrapper re-raises unchanged)."""
        self._detach()
        try:
            if self.span.is_recording():
                self.span.record_exception(exc)
            self.end(None, error_type=type(exc).__qualname__, description=str(exc))
        except Exception:
            log_failure("error handling")
            self._end_span()

    def end(
        self,
        response: ResponseInfo | None,
        *,
        error_type: str | None = None,
        description: str | None = None,
    ) -> None:
        """Set the interaction's attributes on the span and end it (once)."""
        if self._ended:
            return
        self._ended = True
        try:
            span = self.span
            if span.is_recording():
                now = perf_counter()
                first = self.first_chunk
                iid = self.interaction_id or ""
                start_ns = getattr(span, "start_time", None)
                logger, session = self.logger, self.session
                capture = self.settings.capture_content
                if logger is not None:
                    capture = capture and logger.config.capture_content
                it = build_interaction(
                    self.request,
                    response,
                    interaction_id=iid,
                    timestamp=datetime.fromtimestamp(start_ns / 1e9, timezone.utc)
                    if start_ns is not None
                    else datetime.now(timezone.utc),
                    provider=self.provider,
                    latency_ms=(now - self._start) * 1000.0,
                    time_to_first_token_ms=None if first is None else (first - self._start) * 1e3,
                    error_type=error_type,
                    user_id=None if session is None else session.user_id,
                    session_id=None if session is None else session.id,
                    trace_id=iid[:32] or None,
                    span_id=iid[33:] or None,
                    policy=None if logger is None else logger._content,
                )
                attrs = interaction_attributes(it, self.request, response, capture_content=capture)
                for key, value in self.start_attrs.items():
                    if attrs.get(key) == value:
                        del attrs[key]  # set at span start already; spare re-validation
                span.set_attributes(attrs)
                if logger is not None:
                    logger._count_accepted()
                    if session is not None:
                        session.interaction_ids.append(iid)
                if error_type is not None:
                    span.set_status(Status(StatusCode.ERROR, description or error_type))
        except Exception:
            log_failure("span attributes")
        self._close_span()

    def _end_span(self) -> None:
        if not self._ended:
            self._ended = True
            self._close_span()

    def _close_span(self) -> None:
        if self.interaction_id is not None:
            OPEN_SPANS.end(self.interaction_id, self.span)
        else:
            self.span.end()


Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
