"""``@trace_llm``: every call of a function becomes an interaction span."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace

from rlhf_otel._logger import RLHFLogger, default_logger
from rlhf_otel.recording import RecordingHandler, ResponseInfo, extract_messages, read_response

__all__ = ["trace_llm"]

_log = logging.getLogger("rlhf_otel")
F = TypeVar("F", bound=Callable[..., Any])


class _Options:
    __slots__ = ("name", "model", "provider", "capture_input", "capture_output", "logger", "names")

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
        try:
            params = inspect.signature(func).parameters.values()
            self.names = tuple(
                p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            )
        except (TypeError, ValueError):
            self.names = ()


_global_handler: RecordingHandler | None = None


def _handler(opts: _Options) -> RecordingHandler:
    """The logger's handler; with no logger, one on the global tracer provider."""
    global _global_handler
    logger = opts.logger or default_logger()
    if logger is not None:
        return logger.recording
    if _global_handler is None:
        _global_handler = RecordingHandler()
    return _global_handler


class _Call:
    """One traced call: the handler's call plus what the decorator read from the arguments."""

    __slots__ = ("args", "call", "handler", "id", "kwargs", "opts")

    def __init__(self, opts: _Options, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.opts = opts
        self.args = args
        self.kwargs = kwargs
        self.handler = handler = _handler(opts)
        self.call = handler.start(model=opts.model, provider=opts.provider, name=opts.name)
        self.id = self.call.interaction_id

    @property
    def ended(self) -> bool:
        return self.call.ended

    def activate(self) -> object:
        return otel_context.attach(trace.set_span_in_context(self.call.span))

    def chunk(self, chunk: Any) -> None:
        self.call.chunk(chunk)

    def finish(
        self,
        result: Any = None,
        error: BaseException | None = None,
        *,
        streamed: bool = False,
        abandoned: bool = False,
    ) -> None:
        if self.call.ended:
            return
        opts = self.opts
        response: ResponseInfo | None = None
        messages: list[dict[str, Any]] = []
        try:
            response = self.call.streamed() if streamed else read_response(result)
            if not opts.capture_output:
                response.text, response.tool_calls = "", []
            if opts.capture_input:
                messages = extract_messages(opts.names, self.args, self.kwargs)
        except Exception:  # our bug must not reach the user; the span still ends
            _log.warning("trace_llm could not read the call", exc_info=True)
        self.handler.stop(
            self.call,
            response,
            messages=messages,
            capture=opts.capture_input or opts.capture_output,
            abandoned=abandoned,
            error=error,
        )


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
