"""One instrumented call: span start, response or error, span end. No wrapping logic here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import Tracer

from rlhf_otel import RLHFLogger, default_logger
from rlhf_otel import attributes as A
from rlhf_otel.recording import (
    INTERACTION_OPERATIONS,
    LLMCall,
    RecordingHandler,
    ResponseInfo,
)

from ._extract import CHAT, READERS, RESPONSES, Kind, RequestInfo, new_accumulator, read_request
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
    handler: RecordingHandler | None = None

    def logger_for_spans(self) -> RLHFLogger | None:
        """The logger whose pipeline receives our spans (its content policy, sessions and
        delivery counts apply to them), if any: the one given, else the default one."""
        logger = self.logger or default_logger()
        if logger is None:
            return None
        provider = self.tracer_provider or trace.get_tracer_provider()
        return logger if logger.tracer_provider is provider else None

    def handler_for_spans(self) -> RecordingHandler:
        """The recording handler of the logger our spans reach, else our own one."""
        logger = self.logger_for_spans()
        if logger is not None:
            return logger.recording
        assert self.handler is not None  # set by the instrumentor
        return self.handler

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
        handler = settings.handler_for_spans()
        llm = handler.start(
            model=request.model,
            provider=settings.provider_of(instance),
            operation=kind.operation,
            tracer=settings.tracer,
        )
        token = otel_context.attach(
            otel_context.set_value(_ACTIVE_KEY, True, trace.set_span_in_context(llm.span))
        )
        return Call(settings, handler, kind, request, llm, token, kwargs)
    except Exception:
        log_failure("span start")
        return None


class Call:
    """One instrumented call: the handler's call, and what the request said."""

    __slots__ = ("_token", "handler", "kind", "kwargs", "llm", "request", "settings")

    def __init__(
        self,
        settings: Settings,
        handler: RecordingHandler,
        kind: Kind,
        request: RequestInfo,
        llm: LLMCall,
        token: object,
        kwargs: dict[str, Any],
    ) -> None:
        self.settings = settings
        self.handler = handler
        self.kind = kind
        self.request = request
        self.llm = llm
        self._token = token
        self.kwargs = kwargs

    @property
    def interaction_id(self) -> str:
        """The id of this call's interaction."""
        return self.llm.interaction_id

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
            settings = self.settings
            if isinstance(result, settings.stream_types):
                from ._streams import StreamProxy

                self.llm.accumulator = new_accumulator(self.kind)
                return StreamProxy(result, self)
            if isinstance(result, settings.async_stream_types):
                from ._streams import AsyncStreamProxy

                self.llm.accumulator = new_accumulator(self.kind)
                return AsyncStreamProxy(result, self)
            parsed: Any = result
            if isinstance(result, settings.raw_response_types):
                parsed = getattr(result, "parse")()  # noqa: B009  # LegacyAPIResponse, cached
            self.end(READERS[self.kind](parsed))
        except Exception:
            log_failure("response handling")
            self.end(None)
        return result

    def fail(self, exc: BaseException) -> None:
        """The call (or its stream) raised ``exc`` (which the wrapper re-raises unchanged)."""
        self._detach()
        self.end(None, error=exc)

    def end(
        self,
        response: ResponseInfo | None,
        *,
        error: BaseException | None = None,
        abandoned: bool = False,
    ) -> None:
        """End the span with what the call returned (once; later calls do nothing)."""
        request, llm = self.request, self.llm
        llm.messages, llm.params, llm.user_id = request.messages, request.params, request.user_id
        capture = self.settings.capture_content
        if error is None:
            llm.stop(response, capture=capture, abandoned=abandoned)
        else:
            llm.fail(error, response, capture=capture, abandoned=abandoned)


Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
