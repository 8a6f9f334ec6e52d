"""Stream proxies: behave exactly like the SDK's stream and end the span when it ends."""

from __future__ import annotations

import contextlib
from time import perf_counter
from typing import Any

import wrapt

from ._call import Call, log_failure

__all__ = ["AsyncStreamProxy", "StreamProxy"]


def _observe(call: Call, accumulator: Any, item: Any) -> None:
    if call.first_chunk is None:
        call.first_chunk = perf_counter()
    try:
        accumulator.add(item)
    except Exception:
        log_failure("stream chunk")


def _finish(call: Call, accumulator: Any) -> None:
    try:
        response = accumulator.result()
        error_type = getattr(accumulator, "error_type", None)
    except Exception:
        log_failure("stream end")
        response, error_type = None, None
    call.end(response, error_type=error_type)


def _fail(call: Call, accumulator: Any, exc: BaseException) -> None:
    try:
        if call.span.is_recording():
            call.span.record_exception(exc)
        response = accumulator.result()
    except Exception:
        log_failure("stream error")
        response = None
    call.end(response, error_type=type(exc).__qualname__, description=str(exc))


class StreamProxy(wrapt.ObjectProxy[Any]):
    """A ``Stream`` that records chunks; the span ends on exhaustion, error, ``close()``,
    context-manager exit or garbage collection, whichever comes first."""

    def __init__(self, wrapped: Any, call: Call, accumulator: Any) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_accumulator = accumulator

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        try:
            item = self.__wrapped__.__next__()
        except StopIteration:
            _finish(self._self_call, self._self_accumulator)
            raise
        except BaseException as exc:
            _fail(self._self_call, self._self_accumulator, exc)
            raise
        _observe(self._self_call, self._self_accumulator, item)
        return item

    def __enter__(self) -> StreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            _finish(self._self_call, self._self_accumulator)

    def close(self) -> None:
        """Close the response (as ``Stream.close``) and end the span with what was read."""
        try:
            self.__wrapped__.close()
        finally:
            _finish(self._self_call, self._self_accumulator)

    def __del__(self) -> None:
        # At interpreter shutdown what we need may be gone already.
        with contextlib.suppress(Exception):
            _finish(self._self_call, self._self_accumulator)


class AsyncStreamProxy(wrapt.ObjectProxy[Any]):
    """The ``AsyncStream`` counterpart of :class:`StreamProxy`."""

    def __init__(self, wrapped: Any, call: Call, accumulator: Any) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_accumulator = accumulator

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            _finish(self._self_call, self._self_accumulator)
            raise
        except BaseException as exc:
            _fail(self._self_call, self._self_accumulator, exc)
            raise
        _observe(self._self_call, self._self_accumulator, item)
        return item

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            _finish(self._self_call, self._self_accumulator)

    async def close(self) -> None:
        """Close the response (as ``AsyncStream.close``) and end the span."""
        try:
            await self.__wrapped__.close()
        finally:
            _finish(self._self_call, self._self_accumulator)

    async def aclose(self) -> None:
        """Alias of :meth:`close`, as on ``AsyncStream``."""
        try:
            await self.__wrapped__.aclose()
        finally:
            _finish(self._self_call, self._self_accumulator)

    def __del__(self) -> None:
        # At interpreter shutdown what we need may be gone already.
        with contextlib.suppress(Exception):
            _finish(self._self_call, self._self_accumulator)
