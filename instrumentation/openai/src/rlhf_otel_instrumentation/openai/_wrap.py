"""The wrapt wrappers: call ``begin``/``finish``/``fail`` around the original method."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import wrapt

from ._call import Settings, begin
from ._extract import Kind

__all__ = ["make_wrapper"]

# Instrumentation libraries whose GenAI span we want around ours, not inside it.
_GENAI_WRAPPERS: Final = (
    "opentelemetry.instrumentation.openai",
    "openinference.",
    "langfuse.",
    "traceloop.",
)

Wrapper = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]


def _foreign_genai(wrapped: Any) -> Any:
    """The wrapper function of another GenAI instrumentation sitting under ours, if any."""
    if type(wrapped) is not wrapt.BoundFunctionWrapper:
        return None
    outer = getattr(wrapped, "_self_wrapper", None)
    module = getattr(outer, "__module__", None) or ""
    return outer if module.startswith(_GENAI_WRAPPERS) else None


def make_wrapper(settings: Settings, kind: Kind, is_async: bool) -> Wrapper:
    """A wrapt wrapper recording calls of one API method (``kind``).

    When another GenAI instrumentation wrapped the method before us, its wrapper is run
    around ours, so its span encloses ours and is marked superseded (one record per call).
    """
    if is_async:

        async def async_wrapper(
            wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            foreign = _foreign_genai(wrapped)
            if foreign is not None:
                inner = wrapped.__wrapped__
                return await foreign(
                    lambda *a, **kw: async_wrapper(inner, instance, a, kw), instance, args, kwargs
                )
            call = begin(settings, kind, instance, kwargs)
            if call is None:
                return await wrapped(*args, **kwargs)
            try:
                result = await wrapped(*args, **call.kwargs)
            except BaseException as exc:
                call.fail(exc)
                raise
            return call.finish(result)

        return async_wrapper

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        foreign = _foreign_genai(wrapped)
        if foreign is not None:
            inner = wrapped.__wrapped__
            return foreign(lambda *a, **kw: wrapper(inner, instance, a, kw), instance, args, kwargs)
        call = begin(settings, kind, instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **call.kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        return call.finish(result)

    return wrapper
