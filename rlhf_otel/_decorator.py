"""``@trace_llm``: every call of a function becomes an interaction span."""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer

from rlhf_otel import attributes as A
from rlhf_otel._logger import RLHFLogger, default_logger
from rlhf_otel._redact import record_exception
from rlhf_otel.recording._current import OPEN_SPANS, set_last_interaction_id
from rlhf_otel.recording._extract import Extracted, extract_chunk, extract_prompt, extract_response
from rlhf_otel.recording._spans import (
    interaction_span_name,
    interaction_to_attributes,
    ns_to_datetime,
)
from rlhf_otel.records._ids import format_span_id
from rlhf_otel.records._model import Interaction

__all__ = ["trace_llm"]

_log = logging.getLogger("rlhf_otel")
F = TypeVar("F", bound=Callable[..., Any])


class _Options:
    __slots__ = (
        "name",
        "model",
        "provider",
        "capture_input",
        "capture_output",
        "logger",
        "names",
        "base_attributes",
        "span_name",
    )

    def __init__(
        self,
        func: Callable[..., Any],
        name: str | None,
        model: str | None,
        provider: str | None,
        capture_input: bool,
        capture_output: bool,
        logger: RLHFLogger | None,
    ) -> None:
        self.name = name
        self.model = model
        self.provider = provider
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.logger = logger
        self.span_name = name or interaction_span_name(model)
        self.base_attributes: dict[str, Any] = {
            A.GEN_AI_OPERATION_NAME: "chat",
            A.RLHF_RECORD_KIND: A.RECORD_KIND_INTERACTION,
        }
        if model:
            self.base_attributes[A.GEN_AI_REQUEST_MODEL] = model
        if provider:
            self.base_attributes[A.GEN_AI_PROVIDER_NAME] = provider
        try:
            params = inspect.signature(func).parameters.values()
            self.names = tuple(
                p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            )
        except (TypeError, ValueError):
            self.names = ()


class _Call:
    """One traced call: starts the span, collects the result, ends the span exactly once."""

    __slots__ = (
        "opts",
        "logger",
        "span",
        "id",
        "args",
        "kwargs",
        "start",
        "first",
        "out",
        "ended",
        "session",
    )

    def __init__(self, opts: _Options, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.opts = opts
        self.args = args
        self.kwargs = kwargs
        self.logger = logger = opts.logger or default_logger()
        tracer: Tracer = logger.tracer if logger is not None else trace.get_tracer("rlhf_otel")
        self.span = span = tracer.start_span(
            opts.span_name, kind=SpanKind.CLIENT, attributes=opts.base_attributes
        )
        ctx = span.get_span_context()
        self.id = format_span_id(ctx.trace_id, ctx.span_id)
        set_last_interaction_id(self.id)
        OPEN_SPANS.add(self.id, span)
        self.start = time.perf_counter()
        self.first: float | None = None
        self.out: Extracted | None = None
        self.ended = False
        self.session = None
        if logger is not None:
            try:
                self.session = logger.sessions.touch()
            except Exception:  # never break the user's call
                _log.warning("session lookup failed", exc_info=True)

    def activate(self) -> object:
        return otel_context.attach(trace.set_span_in_context(self.span))

    def chunk(self, chunk: Any) -> None:
        if self.first is None:
            self.first = time.perf_counter()
            self.out = Extracted()
        try:
            extract_chunk(chunk, self.out)  # type: ignore[arg-type]
        except Exception:
            _log.debug("could not read a streamed chunk", exc_info=True)

    def finish(
        self,
        result: Any = None,
        error: BaseException | None = None,
        *,
        streamed: bool = False,
        abandoned: bool = False,
    ) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            self._record(result, error, streamed, abandoned)
        except Exception:  # our bug must not reach the user; the span still ends
            _log.warning("trace_llm could not record the call", exc_info=True)
        OPEN_SPANS.end(self.id, self.span)

    def _record(
        self, result: Any, error: BaseException | None, streamed: bool, abandoned: bool
    ) -> None:
        opts, logger, span = self.opts, self.logger, self.span
        latency_ms = (time.perf_counter() - self.start) * 1000.0
        out = (self.out or Extracted()) if streamed else extract_response(result)
        prompt: str = ""
        context: list[dict[str, Any]] = []
        if opts.capture_input:
            prompt, context = extract_prompt(opts.names, self.args, self.kwargs)
        capture = opts.capture_output or opts.capture_input
        user = session_id = None
        policy = None
        if logger is not None:
            capture = capture and logger.config.capture_content
            policy = logger._content
            if self.session is not None:
                user, session_id = self.session.user_id, self.session.id
                self.session.interaction_ids.append(self.id)
        response = out.text if opts.capture_output else ""
        if policy is not None:
            prompt, response = policy.prompt(prompt), policy.response(response)
            context = policy.context(context)
        if not capture:
            prompt, response, context = "", "", []
        ctx = span.get_span_context()
        start_ns = getattr(span, "start_time", None) or time.time_ns()
        record = Interaction(
            id=self.id,
            prompt=prompt,
            response=response,
            timestamp=ns_to_datetime(start_ns),
            model=opts.model or out.model,
            provider=opts.provider,
            latency_ms=latency_ms,
            token_usage=out.usage,
            user_id=user,
            session_id=session_id,
            context=context,
            response_id=out.response_id,
            finish_reasons=tuple(out.finish_reasons or (["abandoned"] if abandoned else ())),
            error_type=None if error is None else type(error).__qualname__,
            time_to_first_token_ms=None
            if self.first is None
            else (self.first - self.start) * 1000.0,
            trace_id=f"{ctx.trace_id:032x}",
            span_id=f"{ctx.span_id:016x}",
        )
        attrs = interaction_to_attributes(record, capture_content=capture)
        attrs[A.RLHF_INTERACTION_ID] = self.id
        if out.model:
            attrs[A.GEN_AI_RESPONSE_MODEL] = out.model
            if not opts.name and not opts.model:
                span.update_name(interaction_span_name(out.model))
        span.set_attributes(attrs)
        if logger is not None:
            # Built from the same normalised values the span carries, so it equals decoding it.
            logger._remember(span, record)
        if error is not None:
            record_exception(span, error, policy)


class _TracedStream:
    """What a generator's and an async generator's stand-ins share: the call, the id and the
    span ending as abandoned when the stand-in is closed or garbage-collected half read."""

    def __init__(self, call: _Call, inner: Any) -> None:
        self._call = call
        self._inner = inner
        self.interaction_id = call.id

    def _abandon(self) -> None:
        self._call.finish(streamed=True, abandoned=True)

    def __del__(self) -> None:
        if not self._call.ended:
            self._abandon()


class _TracedIterator(_TracedStream, Iterator[Any]):
    """A generator's stand-in: same protocol, ends the span when the stream ends, raises,
    is closed or is garbage-collected half read."""

    def __iter__(self) -> _TracedIterator:
        return self

    def _step(self, fn: Callable[..., Any], *args: Any) -> Any:
        token = self._call.activate()
        try:
            chunk = fn(*args)
        except StopIteration:
            self._call.finish(streamed=True)
            raise
        except BaseException as exc:
            self._call.finish(error=exc, streamed=True)
            raise
        finally:
            otel_context.detach(token)  # type: ignore[arg-type]
        self._call.chunk(chunk)
        return chunk

    def __next__(self) -> Any:
        return self._step(next, self._inner)

    def send(self, value: Any) -> Any:
        """Forwarded to the wrapped generator."""
        return self._step(self._inner.send, value)

    def throw(self, *args: Any) -> Any:
        """Forwarded to the wrapped generator."""
        return self._step(self._inner.throw, *args)

    def close(self) -> None:
        """Close the wrapped generator; the span ends as abandoned if it was not done."""
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._abandon()


class _TracedAsyncIterator(_TracedStream, AsyncIterator[Any]):
    """The async generator's stand-in (see :class:`_TracedIterator`)."""

    def __aiter__(self) -> _TracedAsyncIterator:
        return self

    async def _step(self, fn: Callable[..., Any], *args: Any) -> Any:
        token = self._call.activate()
        try:
            chunk = await fn(*args)
        except StopAsyncIteration:
            self._call.finish(streamed=True)
            raise
        except BaseException as exc:
            self._call.finish(error=exc, streamed=True)
            raise
        finally:
            otel_context.detach(token)  # type: ignore[arg-type]
        self._call.chunk(chunk)
        return chunk

    async def __anext__(self) -> Any:
        return await self._step(self._inner.__anext__)

    async def asend(self, value: Any) -> Any:
        """Forwarded to the wrapped async generator."""
        return await self._step(self._inner.asend, value)

    async def athrow(self, *args: Any) -> Any:
        """Forwarded to the wrapped async generator."""
        return await self._step(self._inner.athrow, *args)

    async def aclose(self) -> None:
        """Close the wrapped generator; the span ends as abandoned if it was not done."""
        try:
            aclose = getattr(self._inner, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            self._abandon()


def _wrap(func: F, opts: _Options) -> F:
    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = _Call(opts, args, kwargs)
            return _TracedAsyncIterator(call, func(*args, **kwargs))

        return agen_wrapper  # type: ignore[return-value]

    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = _Call(opts, args, kwargs)
            return _TracedIterator(call, func(*args, **kwargs))

        return gen_wrapper  # type: ignore[return-value]

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            call = _Call(opts, args, kwargs)
            token = call.activate()
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                call.finish(error=exc)
                raise
            finally:
                otel_context.detach(token)  # type: ignore[arg-type]
            call.finish(result)
            return result

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = _Call(opts, args, kwargs)
        token = call.activate()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            call.finish(error=exc)
            raise
        finally:
            otel_context.detach(token)  # type: ignore[arg-type]
        call.finish(result)
        return result

    return wrapper  # type: ignore[return-value]


@overload
def trace_llm(func: F, /) -> F: ...


@overload
def trace_llm(
    *,
    name: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    logger: RLHFLogger | None = None,
) -> Callable[[F], F]: ...


def trace_llm(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    logger: RLHFLogger | None = None,
) -> F | Callable[[F], F]:
    """Record every call of the decorated function as an interaction span.

    Works bare (``@trace_llm``) or with options, on functions, methods, coroutines,
    generators and async generators (streamed responses: the span ends when the stream ends,
    raises, is closed or is abandoned). The prompt is read from a ``messages`` argument
    (OpenAI-style), a prompt-like parameter (``prompt``, ``query``, ``question``, ...) or the
    first string argument; the response, model, id and token usage from the return value
    (a string, a dict, or an OpenAI-style response object) or from the streamed chunks.
    Exceptions are recorded (``error.type``, status ERROR) and re-raised unchanged. The
    interaction id of the call is ``rlhf_otel.last_interaction_id()`` right after it (and
    ``.interaction_id`` on a returned stream).

    Args:
        name: span name (default ``chat {model}``).
        model, provider: reported when the return value does not say.
        capture_input, capture_output: record the prompt / response text (default on).
        logger: the logger whose tracer, sessions and limits apply (default: the last one
            created; with none, the global tracer provider is used).
    """

    def decorate(f: F) -> F:
        opts = _Options(f, name, model, provider, capture_input, capture_output, logger)
        return _wrap(f, opts)

    return decorate(func) if func is not None else decorate
