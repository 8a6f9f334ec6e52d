"""The review app's routes on the shared web layer (``rlhf_otel.web``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from rlhf_otel._errors import ValidationError
from rlhf_otel.review._leases import LeaseConflict
from rlhf_otel.review._service import ReviewService
from rlhf_otel.web import HTTPError, PackageFiles, RateLimiter, client_address, read_json, web_app

__all__ = ["review_app"]

_CLIENT_MAX: Final = 64
_Handler = Callable[[Request], Awaitable[Response]]


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
    allowed_hosts: Iterable[str] = (),
) -> ASGIApp:
    """The review app's ASGI app for ``service`` (pages, assets and the JSON API).

    Answers the address it is reached on (and ``localhost`` on loopback) and the
    ``allowed_hosts`` names; another ``Host`` gets 421 (DNS rebinding).

    Every API call but sign-in carries ``Authorization: Bearer <session>``; errors are the
    web layer's ``{"error", "detail"}`` JSON, a conflict over a lease is 409 with one of
    the codes of :class:`LeaseConflict`.
    """
    assets = PackageFiles("rlhf_otel.review", "static", max_age=60)
    limiter = RateLimiter(rate, burst)

    def who(request: Request) -> str:
        wait = limiter.take(client_address(request))
        if wait:
            raise HTTPError(
                429,
                "too many requests; slow down",
                headers={"Retry-After": limiter.retry_after(wait)},
            )
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
        body = await body_of(request)
        try:
            session = service.sign_in(body.get("reviewer"), body.get("token"))
        except ValidationError as exc:
            raise HTTPError(422, str(exc), "invalid") from None
        except PermissionError:
            raise HTTPError(401, "wrong reviewer token", "unauthorized") from None
        reviewer = service.reviewer_of(session)
        return JSONResponse(
            {"session": session, "reviewer": reviewer, "queue": service.spec.to_dict()}
        )

    async def queue(request: Request) -> Response:
        who(request)
        return JSONResponse(service.spec.to_dict())

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
        return JSONResponse({"released": service.skip(reviewer, lease)})

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
        Route("/api/signin", signin, methods=["POST"]),
        Route("/api/queue", queue, methods=["GET"]),
        Route("/api/next", next_item, methods=["POST"]),
        Route("/api/skip", skip, methods=["POST"]),
        Route("/api/submit", submit, methods=["POST"]),
        Route("/api/mine", mine, methods=["GET"]),
        Route("/api/item", item, methods=["GET"]),
        Route("/api/progress", progress, methods=["GET"]),
    ]
    return web_app(routes, allowed_hosts=allowed_hosts)
