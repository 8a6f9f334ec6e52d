"""``OpenAIInstrumentor``: which methods are wrapped, and how they are put back."""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]  # no stubs
    BaseInstrumentor,
)

from rlhf_otel import RLHFLogger
from rlhf_otel.recording import RecordingHandler

from ._call import Settings, log_failure
from ._extract import CHAT, COMPLETIONS, RESPONSES, Kind
from ._wrap import Wrapper, make_wrapper
from .package import _instruments
from .version import __version__

__all__ = ["CAPTURE_CONTENT_ENV", "STREAM_USAGE_ENV", "OpenAIInstrumentor"]

CAPTURE_CONTENT_ENV: Final = "RLHF_OTEL_CAPTURE_CONTENT"
"""``false``/``0``/``no``/``off`` stops recording messages when ``capture_content`` is unset."""
STREAM_USAGE_ENV: Final = "RLHF_OTEL_OPENAI_STREAM_USAGE"
"""``true``/``1``/``yes``/``on`` turns ``request_stream_usage`` on when it is unset."""

_ORIGINAL: Final = "__rlhf_otel_original__"


@dataclass(frozen=True, slots=True)
class _Target:
    module: str
    cls: str
    method: str
    kind: Kind
    path: tuple[str, ...]

    @property
    def is_async(self) -> bool:
        return self.cls.startswith("Async")


TARGETS: Final = tuple(
    _Target(module, prefix + cls, method, kind, path)
    for module, cls, method, kind, path in (
        (
            "openai.resources.chat.completions",
            "Completions",
            "create",
            CHAT,
            ("chat", "completions"),
        ),
        (
            "openai.resources.chat.completions",
            "Completions",
            "parse",
            CHAT,
            ("chat", "completions"),
        ),
        ("openai.resources.responses", "Responses", "create", RESPONSES, ("responses",)),
        ("openai.resources.responses", "Responses", "parse", RESPONSES, ("responses",)),
        ("openai.resources.completions", "Completions", "create", COMPLETIONS, ("completions",)),
    )
    for prefix in ("", "Async")
)
"""Every wrapped method. ``chat.completions.stream`` and ``responses.stream`` go through
``create`` and are recorded there; a method missing from the installed SDK is skipped."""


def _env_flag(name: str) -> bool | None:
    value = os.environ.get(name, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return None


def _settings(
    *,
    tracer_provider: trace.TracerProvider | None,
    capture_content: bool | None,
    request_stream_usage: bool | None,
    provider_name: str | None = None,
    provider_hosts: Mapping[str, str] | None = None,
    logger: RLHFLogger | None = None,
) -> Settings:
    import openai
    from openai._legacy_response import LegacyAPIResponse

    if capture_content is None:
        capture_content = _env_flag(CAPTURE_CONTENT_ENV) is not False
    if request_stream_usage is None:
        request_stream_usage = _env_flag(STREAM_USAGE_ENV) is True
    if tracer_provider is None and logger is not None:
        tracer_provider = logger.tracer_provider
    tracer = trace.get_tracer("rlhf_otel_instrumentation.openai", __version__, tracer_provider)
    return Settings(
        tracer=tracer,
        handler=RecordingHandler(tracer, capture_content=capture_content),
        tracer_provider=tracer_provider,
        logger=logger,
        capture_content=capture_content,
        request_stream_usage=request_stream_usage,
        provider_name=provider_name,
        provider_hosts={k.lower(): v for k, v in (provider_hosts or {}).items()},
        stream_types=(openai.Stream,),
        async_stream_types=(openai.AsyncStream,),
        raw_response_types=(LegacyAPIResponse,),
    )


def _remove_wrapper(owner: type, name: str, ours: Wrapper) -> bool:
    """Take our wrapper out of ``owner.name``, even when another one was put over it."""
    current = owner.__dict__.get(name)
    if isinstance(current, wrapt.FunctionWrapper) and current._self_wrapper is ours:
        setattr(owner, name, current.__wrapped__)
        return True
    while isinstance(current, wrapt.FunctionWrapper):
        inner = current.__wrapped__
        if isinstance(inner, wrapt.FunctionWrapper) and inner._self_wrapper is ours:
            current.__wrapped__ = inner.__wrapped__
            return True
        current = inner
    return False


class OpenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # untyped base class
    """Records every call of an OpenAI-style client as an rlhf-otel interaction span.

    Example::

        from rlhf_otel_instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
        reply = client.chat.completions.create(model="gpt-4o", messages=[...])
        interaction_id = rlhf_otel.last_interaction_id()

    ``instrument()`` keyword arguments (all optional):

    - ``tracer_provider``: where spans go (default: ``logger``'s provider, else the global
      one).
    - ``logger``: the :class:`~rlhf_otel.RLHFLogger` whose content policy (redaction, size
      limits, ``capture_content``), sessions and delivery counts apply to the spans
      (default: the last logger created, when it is attached to the same provider).
    - ``capture_content`` (default ``True``, or env ``RLHF_OTEL_CAPTURE_CONTENT``): record
      prompts, responses and tool calls; they are the training data.
    - ``request_stream_usage`` (default ``False``, or env ``RLHF_OTEL_OPENAI_STREAM_USAGE``):
      add ``stream_options={"include_usage": True}`` to streamed chat and completion calls
      that did not set ``stream_options``, so their token usage is known.
    - ``provider_hosts``: extra ``{"host" or "host:port": provider name}`` entries for
      ``gen_ai.provider.name`` (a self-hosted vLLM, say).

    Like every OpenTelemetry instrumentor this class is a singleton; ``uninstrument()``
    restores the original methods.
    """

    # No __init__: the base class is a singleton whose __init__ runs on every
    # ``OpenAIInstrumentor()``, which would forget what an earlier instance wrapped.
    _wrapped: list[tuple[type, str, Wrapper]] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        """The ``openai`` versions this instrumentation supports."""
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        settings = _settings(
            tracer_provider=kwargs.get("tracer_provider"),
            capture_content=kwargs.get("capture_content"),
            request_stream_usage=kwargs.get("request_stream_usage"),
            provider_hosts=kwargs.get("provider_hosts"),
            logger=kwargs.get("logger"),
        )
        for target in TARGETS:
            try:
                owner = getattr(importlib.import_module(target.module), target.cls, None)
            except ImportError:
                continue
            if owner is None or not hasattr(owner, target.method):
                continue
            wrapper = make_wrapper(settings, target.kind, target.is_async)
            wrapt.wrap_function_wrapper(owner, target.method, wrapper)
            self._wrapped = [*self._wrapped, (owner, target.method, wrapper)]

    def _uninstrument(self, **kwargs: Any) -> None:
        wrapped, self._wrapped = self._wrapped, []
        for owner, name, wrapper in wrapped:
            if not _remove_wrapper(owner, name, wrapper):
                log_failure(f"uninstrument of {owner.__name__}.{name} (wrapper not found)")

    def instrument_client(
        self,
        client: Any,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        capture_content: bool | None = None,
        request_stream_usage: bool | None = None,
        provider_name: str | None = None,
        provider_hosts: Mapping[str, str] | None = None,
        logger: RLHFLogger | None = None,
    ) -> None:
        """Record the calls of one ``OpenAI`` / ``AsyncOpenAI`` client only.

        The client's resource objects get instance attributes that shadow the class
        methods; no class is touched. ``provider_name`` overrides the provider derived from
        the base URL. Calling it twice on a client is a no-op; undo with
        :meth:`uninstrument_client`. Set it up before the client's first
        ``with_raw_response`` use, which captures the methods it finds.
        """
        settings = _settings(
            tracer_provider=tracer_provider,
            capture_content=capture_content,
            request_stream_usage=request_stream_usage,
            provider_name=provider_name,
            provider_hosts=provider_hosts,
            logger=logger,
        )
        for target, resource in _resources(client):
            original = getattr(resource, target.method, None)
            if original is None or hasattr(original, _ORIGINAL):
                continue
            wrapper = make_wrapper(settings, target.kind, target.is_async)
            setattr(resource, target.method, _bind(wrapper, original, resource, target.is_async))

    def uninstrument_client(self, client: Any) -> None:
        """Undo :meth:`instrument_client` on ``client`` (a no-op if it was not done)."""
        for target, resource in _resources(client):
            method = resource.__dict__.get(target.method)
            if method is not None and hasattr(method, _ORIGINAL):
                delattr(resource, target.method)


def _resources(client: Any) -> list[tuple[_Target, Any]]:
    found = []
    is_async = type(client).__name__.startswith("Async") or any(
        base.__name__ == "AsyncOpenAI" for base in type(client).__mro__
    )
    for target in TARGETS:
        if target.is_async != is_async:
            continue
        resource = client
        try:
            for name in target.path:
                resource = getattr(resource, name)
        except Exception:
            continue
        if type(resource).__name__ == target.cls:
            found.append((target, resource))
    return found


def _bind(wrapper: Wrapper, original: Any, resource: Any, is_async: bool) -> Any:
    if is_async:

        @functools.wraps(original)
        async def async_method(*args: Any, **kwargs: Any) -> Any:
            return await wrapper(original, resource, args, kwargs)

        setattr(async_method, _ORIGINAL, original)
        return async_method

    @functools.wraps(original)
    def method(*args: Any, **kwargs: Any) -> Any:
        return wrapper(original, resource, args, kwargs)

    setattr(method, _ORIGINAL, original)
    return method
