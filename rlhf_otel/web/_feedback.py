"""The feedback endpoint: token-checked, idempotent, versioned submissions from browsers."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from rlhf_otel import FeedbackType, RLHFLogger, ValidationError
from rlhf_otel._tokens import TokenClaims, TokenError, TokenKeys
from rlhf_otel.records import data_class
from rlhf_otel.web._app import client_address, web_app
from rlhf_otel.web._http import HTTPError, read_json
from rlhf_otel.web._options import FeedbackAppConfig
from rlhf_otel.web._ratelimit import RateLimiter
from rlhf_otel.web._static import PackageFiles

__all__ = ["feedback_app", "feedback_wsgi_app"]

_FIELDS: Final = frozenset(
    {"token", "type", "interaction_id", "data", "client_key", "supersedes", "metadata", "retry"}
)
_TYPES: Final = ", ".join(t.value for t in FeedbackType)
_TYPE_NAMES: Final = frozenset(t.value for t in FeedbackType)
_VERIFIED_TOKENS: Final = 10_000


class _RecentIds:
    """Feedback ids accepted lately (bounded, least recently used first out)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def reserve(self, fid: str) -> bool:
        """Remember ``fid``; ``False`` if it was already there."""
        with self._lock:
            if fid in self._ids:
                self._ids.move_to_end(fid)
                return False
            self._ids[fid] = None
            if len(self._ids) > self.size:
                self._ids.popitem(last=False)
            return True

    def release(self, fid: str) -> None:
        with self._lock:
            self._ids.pop(fid, None)


class _Service:
    """Verifies, limits and logs submissions; shared by the single and batch routes."""

    def __init__(self, logger: RLHFLogger, config: FeedbackAppConfig, keys: TokenKeys) -> None:
        self.logger = logger
        self.config = config
        self.keys = keys
        self.recent = _RecentIds(config.recent_ids)
        self.by_ip = RateLimiter(config.ip_rate, config.ip_burst)
        self.by_token = RateLimiter(config.token_rate, config.token_burst)
        self.assets = PackageFiles("rlhf_otel.web", "static")
        self.verified: dict[str, TokenClaims] = {}

    def address(self, request: Request) -> str:
        return client_address(
            request,
            trust_forwarded=self.config.trust_forwarded,
            trusted_proxies=self.config.trusted_proxies,
        )

    def limit_ip(self, request: Request) -> None:
        wait = self.by_ip.take(self.address(request))
        if wait:
            raise HTTPError(
                429,
                "too many requests from this address; retry later",
                headers={"Retry-After": RateLimiter.retry_after(wait)},
            )

    def submit(self, item: object) -> tuple[int, dict[str, Any]]:
        """One submission: ``(status, body)``; refusals raise :class:`HTTPError`."""
        if not isinstance(item, Mapping):
            raise HTTPError(422, "a submission is a JSON object", "invalid")
        unknown = set(item) - _FIELDS
        if unknown:
            raise HTTPError(
                422,
                f"field(s) {sorted(unknown)} not accepted (the server sets time, source and "
                f"user); allowed: {', '.join(sorted(_FIELDS))}",
            )
        claims = self._claims(item.get("token"))
        wait = self.by_token.take(claims.token_id)
        if wait:
            raise HTTPError(
                429,
                "too many submissions with this token; retry later",
                headers={"Retry-After": RateLimiter.retry_after(wait)},
            )
        ftype = item.get("type")
        if not isinstance(ftype, str) or ftype not in _TYPE_NAMES:
            raise HTTPError(422, f"feedback type {ftype!r} unknown; allowed: {_TYPES}")
        data = item.get("data")
        if not isinstance(data, Mapping):
            raise HTTPError(422, "data must be an object with the feedback type's fields")
        iid = self._target(item, claims, ftype, data)
        try:
            fid = self.keys.feedback_id(claims, ftype, item.get("client_key"))  # type: ignore[arg-type]
        except ValidationError as exc:
            raise HTTPError(422, str(exc)) from None
        supersedes = item.get("supersedes")
        if supersedes is not None and (
            not isinstance(supersedes, str)
            or not supersedes.startswith(self.keys.id_prefix(claims, ftype))
            or supersedes == fid
        ):
            raise HTTPError(
                403,
                "supersedes must name an earlier submission of this type under this token",
                "bad_supersedes",
            )
        if not self.recent.reserve(fid):
            return 200, {"id": fid, "status": "duplicate"}
        try:
            # an id this process has not seen may still be stored (a resend after a
            # restart, or one older than the recent-id table); the client's word is not needed
            if self.logger.store.get_feedback(fid) is not None:
                return 200, {"id": fid, "status": "duplicate"}
            self.logger.log_feedback(
                iid,
                ftype,
                data,
                feedback_id=fid,
                supersedes=supersedes,
                user_id=claims.user_id,
                source=self.config.source,
                metadata=item.get("metadata"),
            )
        except ValidationError as exc:
            self.recent.release(fid)
            raise HTTPError(422, str(exc)) from None
        except BaseException:
            self.recent.release(fid)
            raise
        return 201, {"id": fid, "status": "stored"}

    def _claims(self, token: object) -> TokenClaims:
        # a page sends several votes per token: its verified claims are kept a while
        hit = self.verified.get(token) if isinstance(token, str) else None
        try:
            if hit is not None:
                if hit.expires_at < time.time():
                    raise TokenError(401, "expired", "the feedback token has expired")
                return hit
            claims = self.keys.verify(token)
        except TokenError as exc:
            raise HTTPError(exc.status, exc.detail, exc.reason) from None
        if len(self.verified) >= _VERIFIED_TOKENS:
            self.verified.pop(next(iter(self.verified)))
        self.verified[token] = claims  # type: ignore[index]  # verify() took only a str
        return claims

    def _target(
        self, item: Mapping[str, Any], claims: TokenClaims, ftype: str, data: Mapping[str, Any]
    ) -> str:
        try:
            named = data_class(ftype).targets(data)
        except ValueError as exc:
            raise HTTPError(422, str(exc)) from None
        if named is not None:
            targets = named
            iid = named[0]
        else:
            given = item.get("interaction_id")
            if given is None and len(claims.interaction_ids) == 1:
                given = claims.interaction_ids[0]
            if not isinstance(given, str):
                raise HTTPError(422, "interaction_id (string) is required")
            targets = [given]
            iid = given
        try:
            claims.check(targets, ftype)
        except TokenError as exc:
            raise HTTPError(exc.status, exc.detail, exc.reason) from None
        return iid


def _routes(service: _Service) -> list[Route]:
    config = service.config

    async def feedback(request: Request) -> Response:
        service.limit_ip(request)
        body = await read_json(
            request, max_bytes=config.max_body_bytes, max_depth=config.max_json_depth
        )
        status, out = service.submit(body)
        return JSONResponse(out, status_code=status)

    async def batch(request: Request) -> Response:
        # the first item spends the request's share of the address budget, each further
        # item one more; items past the budget answer 429 each, and so do the rest
        service.limit_ip(request)
        body = await read_json(
            request, max_bytes=config.max_body_bytes, max_depth=config.max_json_depth + 2
        )
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= config.max_batch_items:
            raise HTTPError(422, f'send {{"items": [1 to {config.max_batch_items} submissions]}}')
        address = service.address(request)
        results: list[dict[str, Any]] = []
        wait = 0.0
        for n, item in enumerate(items):
            if n and not wait:
                wait = service.by_ip.take(address)
            if wait:
                results.append(
                    {
                        "code": 429,
                        "error": "rate_limited",
                        "detail": "too many submissions from this address; send this item "
                        "again later",
                        "retry_after": int(RateLimiter.retry_after(wait)),
                    }
                )
                continue
            try:
                status, out = service.submit(item)
            except HTTPError as exc:
                status, out = exc.status, {"error": exc.error, "detail": exc.detail}
            results.append({"code": status, **out})
        headers = {"Retry-After": RateLimiter.retry_after(wait)} if wait else None
        return JSONResponse({"results": results}, headers=headers)

    async def widget(request: Request) -> Response:
        return service.assets.response("widget.js", request.headers)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return [
        Route("/feedback", feedback, methods=["POST"]),
        Route("/feedback/batch", batch, methods=["POST"]),
        Route("/widget.js", widget, methods=["GET", "HEAD"]),
        Route("/healthz", health, methods=["GET", "HEAD"]),
    ]


def feedback_app(
    logger: RLHFLogger, *, config: FeedbackAppConfig | None = None, **options: Any
) -> ASGIApp:
    """The feedback service as an ASGI app: ``app.mount("/rlhf", feedback_app(logger))``.

    Routes: ``POST /feedback``, ``POST /feedback/batch``, ``GET /widget.js``,
    ``GET /healthz`` (see docs/feedback-service.md). Every submission carries a token from
    ``logger.feedback_token(...)``; the server stamps time and ``source`` and takes the user
    from the token, then logs through ``logger`` (same validation, redaction and limits).

    Args:
        logger: where feedback goes.
        config: the options; or give any :class:`FeedbackAppConfig` field as a keyword.

    Raises:
        ConfigurationError: an option is not allowed, or no feedback secret is configured.
    """
    config = replace(config, **options) if config is not None else FeedbackAppConfig(**options)
    keys = config.keys or TokenKeys.from_config(logger.config)
    service = _Service(logger, config, keys)
    return web_app(
        _routes(service), allow_origins=config.allow_origins, allowed_hosts=config.allowed_hosts
    )


def feedback_wsgi_app(
    logger: RLHFLogger, *, config: FeedbackAppConfig | None = None, **options: Any
) -> Any:
    """The same service as a WSGI app (Flask, Django), adapted from :func:`feedback_app`.

    Example: ``DispatcherMiddleware(flask_app.wsgi_app, {"/rlhf": feedback_wsgi_app(lg)})``.
    """
    from a2wsgi import ASGIMiddleware

    return ASGIMiddleware(feedback_app(logger, config=config, **options))  # type: ignore[arg-type]
