"""The review app's routes on the shared web layer (``rlhf_otel.web``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rlhf_otel._errors import ValidationError
from rlhf_otel._hosts import FRAME_ANCESTORS
from rlhf_otel.review._access import SignInLimiter
from rlhf_otel.review._leases import LeaseConflict
from rlhf_otel.review._service import ReviewService
from rlhf_otel.web import HTTPError, PackageFiles, RateLimiter, client_address, read_json, web_app

__all__ = ["review_app"]

_CLIENT_MAX: Final = 64
_Handler = Callable[[Request], Awaitable[Response]]
PAGE_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The Content-Security-Policy of every answer of the review app (no inline script or
style, nothing from another origin)."""
_CORE_CSP: Final = FRAME_ANCESTORS.encode()


class _PageHeaders:
    """Adds the page CSP and a no-referrer policy to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # the web core's default CSP (frame-ancestors only) gives way to the page CSP
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if not (k.lower() == b"content-security-policy" and v == _CORE_CSP)
                ]
                names = {k.lower() for k, _ in headers}
                for k, v in (
                    (b"content-security-policy", PAGE_CSP.encode()),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-content-type-options", b"nosniff"),
                ):
                    if k not in names:
                        headers.append((k, v))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _client(body: dict[str, Any]) -> str:
    client = body.get("client")
    if not isinstance(client, str) or not 1 <= len(client) <= _CLIENT_MAX:
        raise HTTPError(422, "client must be the page's id (1-64 characters)", "invalid")
    return client


def review_app(
    service: ReviewService,
    *,
    rate: float = 50.0,
    burst: float = 200.0,
    sign_in_limiter: SignInLimiter | None = None,
    allowed_hosts: Iterable[str] = (),
) -> ASGIApp:
    """The review app's ASGI app for ``service`` (pages, assets and the JSON API).

    Every API call but sign-in carries ``Authorization: Bearer <session>`` (or, with
    ``service.user_header``, that header from the proxy); errors are the web layer's
    ``{"error", "detail"}`` JSON, a conflict over a lease is 409 with one of the codes of
    :class:`LeaseConflict`. Wrong sign-ins are limited per address (default: 30 in 10
    minutes, then 429 with ``Retry-After``). Every answer carries :data:`PAGE_CSP`. The
    address it is reached on (and ``localhost`` on loopback) and the ``allowed_hosts``
    names are answered; another ``Host`` gets 421 (DNS rebinding).
    """
    assets = PackageFiles("rlhf_otel.review", "static", max_age=60)
    limiter = RateLimiter(rate, burst)
    guard = sign_in_limiter or SignInLimiter()

    def who(request: Request) -> str:
        wait = limiter.take(client_address(request))
        if wait:
            raise HTTPError(
                429,
                "too many requests; slow down",
                headers={"Retry-After": limiter.retry_after(wait)},
            )
        if service.user_header:
            reviewer = service.header_reviewer(request.headers.get(service.user_header))
            if reviewer is None:
                raise HTTPError(401, f"the proxy did not name a reviewer ({service.user_header})")
            return reviewer
        auth = request.headers.get("authorization", "")
        reviewer = service.reviewer_of(auth[7:]) if auth.startswith("Bearer ") else None
        if reviewer is None:
            raise HTTPError(401, "sign in first (your session is missing or from an earlier run)")
        return reviewer

    async def body_of(request: Request) -> dict[str, Any]:
        body = await read_json(request, max_bytes=262_144)
        if not isinstance(body, dict):
            raise HTTPError(422, "the body must be a JSON object", "invalid")
        return body

    def guarded(run: Callable[[], dict[str, Any]]) -> Awaitable[dict[str, Any]]:
        def call() -> dict[str, Any]:
            try:
                return run()
            except LeaseConflict as exc:
                raise HTTPError(409, exc.detail, exc.code) from None
            except ValidationError as exc:
                raise HTTPError(422, str(exc), "invalid") from None

        return run_in_threadpool(call)

    async def index(request: Request) -> Response:
        return assets.response("index.html", request.headers)

    async def asset(request: Request) -> Response:
        return assets.response(request.path_params["name"], request.headers)

    async def signin(request: Request) -> Response:
        address = client_address(request)
        wait = guard.wait(address)
        if wait:
            raise HTTPError(
                429,
                "too many wrong sign-ins from this address; wait and try again",
                headers={"Retry-After": RateLimiter.retry_after(wait)},
            )
        body = await body_of(request)
        if service.user_header:
            reviewer = who(request)
            session = service.session_for(reviewer)
        else:
            try:
                session = service.sign_in(body.get("reviewer"), body.get("token"))
            except ValidationError as exc:
                raise HTTPError(422, str(exc), "invalid") from None
            except PermissionError:
                guard.failed(address)
                raise HTTPError(401, "wrong reviewer token", "unauthorized") from None
        return JSONResponse(
            {
                "session": session,
                "reviewer": service.reviewer_of(session),
                "queue": service.public_queue(),
            }
        )

    async def config(request: Request) -> Response:
        return JSONResponse({"auth": service.auth_mode})

    async def queue(request: Request) -> Response:
        who(request)
        return JSONResponse(service.public_queue())

    async def next_item(request: Request) -> Response:
        reviewer = who(request)
        body = await body_of(request)
        client, takeover = _client(body), body.get("takeover") is True
        return JSONResponse(await guarded(lambda: service.next(reviewer, client, takeover)))

    async def skip(request: Request) -> Response:
        reviewer = who(request)
        body = await body_of(request)
        lease = body.get("lease")
        if not isinstance(lease, str):
            raise HTTPError(422, "lease must be the id of your lease", "invalid")
        reason = body.get("reason")
        return JSONResponse(
            await guarded(lambda: {"released": service.skip(reviewer, lease, reason)})
        )

    async def undo(request: Request) -> Response:
        reviewer = who(request)
        client = _client(await body_of(request))
        return JSONResponse(await guarded(lambda: service.undo(reviewer, client)))

    async def open_item(request: Request) -> Response:
        reviewer = who(request)
        body = await body_of(request)
        client, key = _client(body), body.get("key")
        if not isinstance(key, str):
            raise HTTPError(422, "key must be the key of an item of this queue", "invalid")
        return JSONResponse(await guarded(lambda: service.open(reviewer, client, key)))

    async def find(request: Request) -> Response:
        reviewer = who(request)
        q = request.query_params.get("q", "")
        state = request.query_params.get("state", "")
        return JSONResponse(await guarded(lambda: service.find(reviewer, q, state)))

    async def submit(request: Request) -> Response:
        reviewer = who(request)
        body = await body_of(request)
        return JSONResponse(await guarded(lambda: service.submit(reviewer, body)))

    async def mine(request: Request) -> Response:
        reviewer = who(request)
        return JSONResponse({"items": service.reviewed(reviewer)})

    async def item(request: Request) -> Response:
        reviewer = who(request)
        key = request.query_params.get("key", "")
        return JSONResponse(await guarded(lambda: service.revisit(reviewer, key)))

    async def progress(request: Request) -> Response:
        reviewer = who(request)
        return JSONResponse(await run_in_threadpool(service.progress, reviewer))

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/static/{name}", asset, methods=["GET", "HEAD"]),
        Route("/api/config", config, methods=["GET"]),
        Route("/api/signin", signin, methods=["POST"]),
        Route("/api/undo", undo, methods=["POST"]),
        Route("/api/open", open_item, methods=["POST"]),
        Route("/api/find", find, methods=["GET"]),
        Route("/api/queue", queue, methods=["GET"]),
        Route("/api/next", next_item, methods=["POST"]),
        Route("/api/skip", skip, methods=["POST"]),
        Route("/api/submit", submit, methods=["POST"]),
        Route("/api/mine", mine, methods=["GET"]),
        Route("/api/item", item, methods=["GET"]),
        Route("/api/progress", progress, methods=["GET"]),
    ]
    return _PageHeaders(web_app(routes, allowed_hosts=allowed_hosts))
