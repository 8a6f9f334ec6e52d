"""Outermost ASGI layer: the ``Host`` allow-list (421) and anti-framing headers."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rlhf_otel._hosts import HostAllowList, guard_headers
from rlhf_otel.web._http import error_response

__all__ = ["GuardMiddleware"]


class GuardMiddleware:
    """Answers 421 JSON to a ``Host`` that is not allowed (see :class:`HostAllowList`:
    the address the client connected to, plus ``allowed_hosts``), and adds
    ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and CSP
    ``frame-ancestors 'none'`` to every answer (a route's own CSP is kept and completed).

    A checked ``Host`` is what makes DNS rebinding fail: a page served from an attacker's
    name that resolves to this server still sends that name as ``Host``.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] | HostAllowList = ()) -> None:
        self.app = app
        self.hosts = (
            allowed_hosts
            if isinstance(allowed_hosts, HostAllowList)
            else HostAllowList(allowed_hosts)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": guard_headers(list(message.get("headers", [])))}
            await send(message)

        host = Headers(scope=scope).get("host")
        if not self.hosts.allows(host, scope.get("server")):
            response = error_response(421, self.hosts.refusal(host or ""), "misdirected")
            await response(scope, receive, guarded)
            return
        await self.app(scope, receive, guarded)
