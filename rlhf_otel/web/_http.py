"""JSON errors, bounded JSON bodies and the catch-all that keeps tracebacks off the wire."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, Final

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ERROR_CODES",
    "ErrorMiddleware",
    "HTTPError",
    "error_response",
    "json_depth",
    "read_json",
    "starlette_exception_handlers",
]

_log = logging.getLogger("rlhf_otel.web")

ERROR_CODES: Final[Mapping[int, str]] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    421: "misdirected",
    422: "invalid",
    429: "rate_limited",
    500: "internal",
}
"""Default ``error`` code of each status (a handler may give a more specific one)."""

_STRINGS: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS: Final = re.compile(rb"[\[\]{}]")


class HTTPError(Exception):
    """Raise in a handler to answer ``status`` with ``{"error": error, "detail": detail}``."""

    def __init__(
        self,
        status: int,
        detail: str,
        error: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.error = error or ERROR_CODES.get(status, "error")
        self.headers = dict(headers or {})


def error_response(
    status: int, detail: str, error: str | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON error body every route answers with."""
    body = {"error": error or ERROR_CODES.get(status, "error"), "detail": detail}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def json_depth(body: bytes) -> int:
    """Deepest nesting of arrays and objects in a JSON text (strings skipped)."""
    opening = body.count(b"[") + body.count(b"{")
    if opening <= 1:
        return opening
    depth = deepest = 0
    for m in _BRACKETS.finditer(_STRINGS.sub(b'""', body)):
        if m.group() in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``max_bytes``.

    The declared ``Content-Length`` is checked first, then the bytes actually received
    while they stream in, so a lying or chunked client cannot make the server buffer more.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPError(400, "Content-Length is not a number")
        if int(declared) > max_bytes:
            raise HTTPError(413, f"request body larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPError(413, f"request body larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def check_json_type(request: Request, allowed: tuple[str, ...] = ("application/json",)) -> None:
    """Refuse with 415 unless the Content-Type is one of ``allowed`` (UTF-8 if a charset)."""
    raw = request.headers.get("content-type", "")
    mime, _, params = raw.partition(";")
    mime = mime.strip().lower()
    charset = ""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    if mime not in allowed or charset not in ("", "utf-8", "utf8"):
        raise HTTPError(
            415,
            f"Content-Type {raw or '(none)'!r} not accepted; send {' or '.join(allowed)} (UTF-8)",
        )


async def read_json(
    request: Request,
    *,
    max_bytes: int = 65_536,
    max_depth: int = 32,
    content_types: tuple[str, ...] = ("application/json",),
) -> Any:
    """The request's JSON body: 415 on another type, 413 past ``max_bytes``, 400 when it is
    not JSON or nests deeper than ``max_depth``."""
    check_json_type(request, content_types)
    body = await read_body(request, max_bytes)
    # counting brackets is cheap; the exact depth is only needed when there are many
    if body.count(b"[") + body.count(b"{") > max_depth and json_depth(body) > max_depth:
        raise HTTPError(400, f"JSON nested deeper than {max_depth} levels", "too_deep")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise HTTPError(400, f"body is not valid JSON: {_short(exc)}", "invalid_json") from None


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPError)
    return error_response(exc.status, exc.detail, exc.error, exc.headers)


async def _starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else ERROR_CODES.get(exc.status_code, "")
    return error_response(exc.status_code, detail, headers=exc.headers)


def _gone(scope: Scope) -> None:
    client = scope.get("client")
    _log.info(
        "client %s hung up before its request to %s %s was read",
        client[0] if client else "unknown",
        scope.get("method"),
        scope.get("path"),
    )


async def _disconnected(request: Request, exc: Exception) -> Response:
    # nobody reads this answer; it only ends the request without a traceback
    _gone(request.scope)
    return error_response(400, "client disconnected", "disconnected")


async def _internal(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer; ErrorMiddleware logs it once
    return error_response(500, "internal error; see the server log")


def starlette_exception_handlers() -> dict[Any, Any]:
    """Handlers for ``Starlette(exception_handlers=...)``: every error answers JSON."""
    return {
        HTTPError: _http_error,
        HTTPException: _starlette_error,
        ClientDisconnect: _disconnected,
        Exception: _internal,
    }


class ErrorMiddleware:
    """An unexpected exception is logged here and answered with a 500
    ``{"error": "internal", ...}`` that carries no traceback or exception text; a client
    that hung up is one INFO line of ``rlhf_otel.web``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except ClientDisconnect:
            _gone(scope)
        except Exception:
            _log.exception("unexpected error answering %s %s", scope.get("method"), scope["path"])
            if started:
                return
            response = error_response(500, "internal error; see the server log")
            await response(scope, receive, send)
