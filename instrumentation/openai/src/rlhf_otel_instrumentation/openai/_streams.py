"""Stream proxies: behave exactly like the SDK's stream and end the span when it ends."""

from __future__ import annotations

import contextlib
from typing import Any

import wrapt

from ._call import Call

__all__ = ["AsyncStreamProxy", "StreamProxy"]


class StreamProxy(wrapt.ObjectProxy[Any]):
    """A ``Stream`` that records chunks; the span ends on exhaustion, error, ``close()``,
    context-manager exit or garbage collection, whichever comes first."""

    def __init__(self, wrapped: Any, call: Call) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_chunk = call.llm.chunk  # per chunk: one call, not three

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        try:
            item = self.__wrapped__.__next__()
        except StopIteration:
            self._self_call.end(None)
            raise
        except BaseException as exc:
            self._self_call.fail(exc)
            raise
        self._self_chunk(item)
        return item

    def __enter__(self) -> StreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_call.end(None, abandoned=True)

    def close(self) -> None:
        """Close the response (as ``Stream.close``) and end the span with what was read."""
        try:
            self.__wrapped__.close()
        finally:
            self._self_call.end(None, abandoned=True)

    def __del__(self) -> None:
        # At interpreter shutdown what we need may be gone already.
        with contextlib.suppress(Exception):
            self._self_call.end(None, abandoned=True)


class AsyncStreamProxy(wrapt.ObjectProxy[Any]):
    """The ``AsyncStream`` counterpart of :class:`StreamProxy`."""

    def __init__(self, wrapped: Any, call: Call) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_chunk = call.llm.chunk  # per chunk: one call, not three

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_call.end(None)
            raise
        except BaseException as exc:
            self._self_call.fail(exc)
            raise
        self._self_chunk(item)
        return item

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_call.end(None, abandoned=True)

    async def close(self) -> None:
        """Close the response (as ``AsyncStream.close``) and end the span."""
        try:
            await self.__wrapped__.close()
        finally:
            self._self_call.end(None, abandoned=True)

    async def aclose(self) -> None:
        """Alias of :meth:`close`, as on ``AsyncStream``."""
        try:
            await self.__wrapped__.aclose()
        finally:
            self._self_call.end(None, abandoned=True)

    def __del__(self) -> None:
        # At interpreter shutdown what we need may be gone already.
        with contextlib.suppress(Exception):
            self._self_call.end(None, abandoned=True)
