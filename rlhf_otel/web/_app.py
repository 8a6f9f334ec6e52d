"""The shared ASGI shell: routes inside JSON errors, CORS allow-list, Host check and a catch-all."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from rlhf_otel.web._cors import CORSAllowList
from rlhf_otel.web._guard import GuardMiddleware
from rlhf_otel.web._http import ErrorMiddleware, starlette_exception_handlers

__all__ = ["client_address", "web_app"]


def web_app(
    routes: Sequence[BaseRoute],
    *,
    allow_origins: Iterable[str] = (),
    allowed_hosts: Iterable[str] = (),
    state: dict[str, Any] | None = None,
) -> ASGIApp:
    """An ASGI app of ``routes`` with the layer's guarantees.

    Every error is ``{"error", "detail"}`` JSON (Starlette's own 404/405 included); an
    unexpected exception is logged and answered 500 with no traceback; a client that hangs
    up mid-request is one log line; cross-origin calls pass only from ``allow_origins``
    (default: same origin only); a ``Host`` other than the address the client connected to
    (plus ``localhost`` on loopback) and ``allowed_hosts`` gets 421 (``"*"``: any); every
    answer carries anti-framing headers. Mountable anywhere (``app.mount("/rlhf",
    web_app(...))``); ``state`` lands on ``request.app.state``.
    """
    inner = Starlette(routes=list(routes), exception_handlers=starlette_exception_handlers())
    for key, value in (state or {}).items():
        setattr(inner.state, key, value)
    return GuardMiddleware(ErrorMiddleware(CORSAllowList(inner, allow_origins)), allowed_hosts)


def client_address(
    request: Request, *, trust_forwarded: bool = False, trusted_proxies: int = 1
) -> str:
    """The caller's address: the socket peer, or, when ``trust_forwarded``, the right-most
    ``X-Forwarded-For`` hop not added by one of your ``trusted_proxies`` proxies.

    Each proxy appends the address it received the request from, so with ``N`` trusted
    proxies in front, the ``N``-th hop from the right is the client as your outermost proxy
    saw it; hops further left are whatever the client wrote. With fewer hops than that,
    the socket peer is used.
    """
    peer = request.client.host if request.client is not None else "unknown"
    if not trust_forwarded:
        return peer
    hops = [
        hop.strip()
        for value in request.headers.getlist("x-forwarded-for")
        for hop in value.split(",")
    ]
    if trusted_proxies < 1 or len(hops) < trusted_proxies or not hops[-trusted_proxies]:
        return peer
    return hops[-trusted_proxies]
