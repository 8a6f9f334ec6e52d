"""The shared web layer on a real uvicorn server: JSON errors, limits, CORS, assets."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rlhf_otel.web import (
    HTTPError,
    PackageFiles,
    RateLimiter,
    read_json,
    running_server,
    web_app,
)

_assets = PackageFiles("rlhf_otel.web", "static")
_limiter = RateLimiter(rate=0.5, burst=2)


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"got": await read_json(request, max_bytes=1000, max_depth=8)})


async def _boom(request: Request) -> JSONResponse:
    raise RuntimeError("secret internals /etc/passwd")


async def _limited(request: Request) -> JSONResponse:
    wait = _limiter.take("k")
    if wait:
        raise HTTPError(429, "slow down", headers={"Retry-After": RateLimiter.retry_after(wait)})
    return JSONResponse({"ok": True})


async def _asset(request: Request) -> object:
    return _assets.response(request.path_params["name"], request.headers)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """A real server with the core routes, allowing one foreign origin."""
    app = web_app(
        [
            Route("/echo", _echo, methods=["POST"]),
            Route("/boom", _boom),
            Route("/limited", _limited),
            Route("/assets/{name}", _asset),  # type: ignore[arg-type]
        ],
        allow_origins=["http://allowed.test"],
    )
    with running_server(app) as url:
        yield url


def test_json_body_is_echoed(base_url: str) -> None:
    """A well-formed JSON body within the limits is read."""
    r = httpx.post(f"{base_url}/echo", json={"a": [1, 2]})
    assert (r.status_code, r.json()) == (200, {"got": {"a": [1, 2]}})


def test_unknown_route_and_method_answer_json(base_url: str) -> None:
    """Starlette's own 404 and 405 come back as {error, detail} JSON."""
    r = httpx.get(f"{base_url}/nowhere")
    assert (r.status_code, r.json()) == (404, {"error": "not_found", "detail": "Not Found"})
    r = httpx.get(f"{base_url}/echo")
    assert (r.status_code, r.json()["error"]) == (405, "method_not_allowed")


def test_body_cap_is_enforced_while_streaming(base_url: str) -> None:
    """A chunked body (no Content-Length) is cut off at the cap with 413."""

    def chunks() -> Iterator[bytes]:
        yield b'{"a": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'"}'

    r = httpx.post(
        f"{base_url}/echo", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json() == {
        "error": "payload_too_large",
        "detail": "request body larger than 1000 bytes",
    }


def test_declared_length_over_cap_is_refused(base_url: str) -> None:
    """A Content-Length over the cap is refused before reading."""
    r = httpx.post(
        f"{base_url}/echo",
        content=b"[" + b"1," * 600 + b"1]",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413


def test_wrong_content_type_is_415(base_url: str) -> None:
    """Only application/json (UTF-8) is read."""
    r = httpx.post(f"{base_url}/echo", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert r.json()["error"] == "unsupported_media_type"
    r = httpx.post(
        f"{base_url}/echo",
        content=b"{}",
        headers={"content-type": "application/json; charset=latin-1"},
    )
    assert r.status_code == 415


def test_invalid_and_deep_json_are_400(base_url: str) -> None:
    """Broken JSON and nesting past the depth limit are 400, not 500."""
    r = httpx.post(
        f"{base_url}/echo", content=b'{"a": ', headers={"content-type": "application/json"}
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_json")
    r = httpx.post(
        f"{base_url}/echo",
        content=b"[" * 9 + b"]" * 9,
        headers={"content-type": "application/json"},
    )
    assert r.json() == {"error": "too_deep", "detail": "JSON nested deeper than 8 levels"}
    r = httpx.post(
        f"{base_url}/echo",
        content=b'["[[[[[[[[[[[["]',
        headers={"content-type": "application/json"},
    )
    assert (r.status_code, r.json()) == (200, {"got": ["[[[[[[[[[[[["]})


def test_unexpected_error_is_logged_500_without_traceback(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception in a handler is a logged 500 whose body names nothing internal."""
    with caplog.at_level(logging.ERROR, logger="rlhf_otel.web"):
        r = httpx.get(f"{base_url}/boom")
        assert r.status_code == 500
        assert r.json() == {"error": "internal", "detail": "internal error; see the server log"}
        assert "passwd" not in r.text
        deadline = time.monotonic() + 5  # the log line follows the answer, on the server thread
        while not caplog.messages and time.monotonic() < deadline:
            time.sleep(0.01)
    assert caplog.messages == ["unexpected error answering GET /boom"]


def test_rate_limit_answers_429_with_retry_after(base_url: str) -> None:
    """A bucket of 2 at 0.5/s lets two requests through, then 429 with Retry-After: 2."""
    codes = [httpx.get(f"{base_url}/limited") for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert codes[2].headers["retry-after"] == "2"
    assert codes[2].json()["error"] == "rate_limited"


def test_cors_preflight_for_allowed_origin(base_url: str) -> None:
    """A preflight from an allowed origin gets 204 with the CORS headers."""
    r = httpx.options(
        f"{base_url}/echo",
        headers={
            "origin": "http://allowed.test",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "http://allowed.test"
    assert r.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
    r = httpx.post(f"{base_url}/echo", json=[1], headers={"origin": "http://allowed.test"})
    assert r.headers["access-control-allow-origin"] == "http://allowed.test"


def test_cors_refuses_other_origins(base_url: str) -> None:
    """A preflight or POST from an origin not on the list is 403 JSON and never runs."""
    r = httpx.options(
        f"{base_url}/echo",
        headers={"origin": "http://evil.test", "access-control-request-method": "POST"},
    )
    assert (r.status_code, r.json()["error"]) == (403, "origin_not_allowed")
    r = httpx.post(f"{base_url}/echo", json=[1], headers={"origin": "http://evil.test"})
    assert r.status_code == 403
    same = base_url.replace("http://", "")
    r = httpx.post(f"{base_url}/echo", json=[1], headers={"origin": base_url, "host": same})
    assert r.status_code == 200


def test_static_asset_with_etag(base_url: str) -> None:
    """Package assets are served with an ETag and answer 304 when it matches."""
    r = httpx.get(f"{base_url}/assets/widget.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "rlhf-feedback" in r.text
    again = httpx.get(f"{base_url}/assets/widget.js", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304
    assert httpx.get(f"{base_url}/assets/../../_tokens.py").status_code == 404


def test_web_all_is_sorted_and_complete() -> None:
    """rlhf_otel.web.__all__ is sorted and names exactly its public attributes."""
    import types

    import rlhf_otel.web as web

    assert web.__all__ == sorted(web.__all__)
    public = {
        n
        for n, v in vars(web).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    } - {"annotations"}
    assert public == set(web.__all__)
