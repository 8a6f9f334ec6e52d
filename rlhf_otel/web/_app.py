"""The shared ASGI shell: routes inside JSON errors, CORS allow-list and a catch-all."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from rlhf_otel.web._cors import CORSAllowList
from rlhf_otel.web._http import ErrorMiddleware, starlette_exception_handlers

__all__ = ["client_address", "web_app"]


def web_app(
    routes: Sequence[BaseRoute],
    *,
    allow_origins: Iterable[str] = (),
    state: dict[str, Any] | None = None,
) -> ASGIApp:
    """An ASGI app of ``routes`` with the layer's guarantees.

    Every error is ``{"error", "detail"}`` JSON (Starlette's own 404/405 included); an
    unexpected exception is logged and answered 500 with no traceback; cross-origin calls
    pass only from ``allow_origins`` (default: same origin only). Mountable anywhere
    (``app.mount("/rlhf", web_app(...))``); ``state`` lands on ``request.app.state``.
    """
    inner = Starlette(routes=list(routes), exception_handlers=starlette_exception_handlers())
    for key, value in (state or {}).items():
        setattr(inner.state, key, value)
    return ErrorMiddleware(CORSAllowList(inner, allow_origins))


def client_address(request: Request, *, trust_forwarded: bool = False) -> str:
    """The caller's address: the socket peer, or the first ``X-Forwarded-For`` hop when
    ``trust_forwarded`` (only behind a proxy you run, which sets that header)."""
    if trust_forwarded:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",", 1)[0].strip()
    return request.client.host if request.client is not None else "unknown"
