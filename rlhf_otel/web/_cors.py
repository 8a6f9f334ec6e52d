"""CORS allow-list middleware: same origin by default, preflights answered, others refused."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rlhf_otel.web._http import error_response

__all__ = ["CORSAllowList"]

_SAFE: Final = frozenset({"GET", "HEAD"})


class CORSAllowList:
    """Pure ASGI middleware enforcing an origin allow-list.

    A request with no ``Origin`` header (a server, curl) or from the server's own origin
    passes. A cross-origin request from an allowed origin gets the CORS headers; from any
    other origin, a preflight or a state-changing request is refused with 403 JSON (a
    ``GET``/``HEAD`` passes without CORS headers, so the browser hides the answer).

    Args:
        app: the wrapped ASGI app.
        allow_origins: origins such as ``"https://chat.example.com"``; ``"*"`` allows any
            origin (tokens still authorise every write). Default: none (same origin only).
        allow_headers: request headers a preflight may ask for.
        max_age: seconds a browser may cache a preflight answer.
    """

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: Iterable[str] = (),
        *,
        allow_methods: Iterable[str] = ("GET", "POST", "OPTIONS"),
        allow_headers: Iterable[str] = ("content-type", "authorization"),
        max_age: int = 600,
    ) -> None:
        self.app = app
        origins = {o.rstrip("/") for o in allow_origins}
        self.any = "*" in origins
        self.origins = frozenset(origins - {"*"})
        self.methods = ", ".join(allow_methods)
        self.headers = ", ".join(allow_headers)
        self.allowed_headers = frozenset(h.lower() for h in allow_headers)
        self.max_age = str(max_age)

    def _same_origin(self, scope: Scope, origin: str, headers: Headers) -> bool:
        host = headers.get("host")
        scheme = scope.get("scheme", "http")
        return host is not None and origin == f"{scheme}://{host}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or self._same_origin(scope, origin, headers):
            await self.app(scope, receive, send)
            return
        allowed = self.any or origin in self.origins
        method = scope["method"]
        preflight = method == "OPTIONS" and "access-control-request-method" in headers
        if not allowed:
            if method in _SAFE:
                await self.app(scope, receive, send)
                return
            response = error_response(
                403, f"origin {origin!r} is not allowed to call this service", "origin_not_allowed"
            )
            await response(scope, receive, send)
            return
        cors = {
            "access-control-allow-origin": origin,
            "vary": "Origin",
        }
        if preflight:
            asked = {
                h.strip().lower()
                for h in headers.get("access-control-request-headers", "").split(",")
                if h.strip()
            }
            if not asked <= self.allowed_headers:
                response = error_response(
                    403,
                    f"request headers {sorted(asked - self.allowed_headers)} not allowed",
                    "origin_not_allowed",
                )
                await response(scope, receive, send)
                return
            cors.update(
                {
                    "access-control-allow-methods": self.methods,
                    "access-control-allow-headers": self.headers,
                    "access-control-max-age": self.max_age,
                }
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [(k.encode(), v.encode()) for k, v in cors.items()],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        extra = [(k.encode(), v.encode()) for k, v in cors.items()]

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != b"access-control-allow-origin"
                ]
                message = {**message, "headers": [*own, *extra]}
            await send(message)

        await self.app(scope, receive, with_cors)
