"""The feedback service against hostile clients over real HTTP: Host check, framing
headers, forwarded addresses, batch budgets, resends after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rlhf_otel import RLHFLogger, create_rlhf_logger
from rlhf_otel.web import feedback_app, running_server, web_app
from tests.web.conftest import SECRET

IID = "chat-1"
GUARD = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "content-security-policy": "frame-ancestors 'none'",
}


def _vote(token: str, key: str = "k1", value: str = "thumbs_down") -> dict[str, Any]:
    return {
        "token": token,
        "type": "binary",
        "interaction_id": IID,
        "data": {"value": value},
        "client_key": key,
    }


def _guard_headers(r: httpx.Response) -> dict[str, str]:
    return {k: r.headers.get(k, "") for k in GUARD}


def test_foreign_host_gets_421_and_nothing_is_stored(logger: RLHFLogger) -> None:
    """DNS rebinding: a page on another name resolving to the server sends its own Host
    and a matching Origin; the vote is refused with 421 JSON and not stored."""
    token = logger.feedback_token(IID)
    with running_server(feedback_app(logger)) as url:
        r = httpx.post(
            f"{url}/feedback",
            json=_vote(token),
            headers={"host": "rebind.example", "origin": "http://rebind.example"},
        )
        assert (r.status_code, r.json()["error"]) == (421, "misdirected")
        assert set(r.json()) == {"error", "detail"}
        r = httpx.get(f"{url}/healthz", headers={"host": "rebind.example:80"})
        assert r.status_code == 421
    assert logger.flush()
    assert logger.query_feedback() == []


def test_bound_address_localhost_and_added_names_are_answered(logger: RLHFLogger) -> None:
    """The bound address (with and without port), localhost on loopback and the
    allowed_hosts names are served; a name:port entry matches that port only."""
    app = feedback_app(logger, allowed_hosts=["feedback.example", "other.example:9"])
    with running_server(app) as url:
        port = url.rsplit(":", 1)[1]
        hosts = {
            f"127.0.0.1:{port}": 200,
            "127.0.0.1": 200,
            f"localhost:{port}": 200,
            "feedback.example": 200,
            "feedback.example:8443": 200,
            "other.example:9": 200,
            "other.example:10": 421,
            f"127.0.0.2:{port}": 421,
            f"evil.example:{port}": 421,
        }
        got = {h: httpx.get(f"{url}/healthz", headers={"host": h}).status_code for h in hosts}
    assert got == hosts


def test_star_allows_any_host(logger: RLHFLogger) -> None:
    """allowed_hosts=["*"] turns the Host check off (for a proxy in front that checks)."""
    with running_server(feedback_app(logger, allowed_hosts=["*"])) as url:
        r = httpx.get(f"{url}/healthz", headers={"host": "anything.example"})
    assert r.status_code == 200


def test_every_answer_carries_anti_framing_headers(logger: RLHFLogger) -> None:
    """200, 201, 404, 405, 421, 422, 403 and a CORS preflight all carry X-Frame-Options,
    nosniff and CSP frame-ancestors 'none'."""
    token = logger.feedback_token(IID)
    app = feedback_app(logger, allow_origins=["http://app.test"])
    with running_server(app) as url, httpx.Client(base_url=url) as c:
        answers = [
            c.get("/healthz"),
            c.get("/widget.js"),
            c.post("/feedback", json=_vote(token)),
            c.get("/nowhere"),
            c.get("/feedback"),
            c.get("/healthz", headers={"host": "evil.example"}),
            c.post("/feedback", json={"token": token}),
            c.post("/feedback", json=_vote(token, "k2"), headers={"origin": "http://evil.test"}),
            c.options(
                "/feedback",
                headers={"origin": "http://app.test", "access-control-request-method": "POST"},
            ),
        ]
    assert [r.status_code for r in answers] == [200, 200, 201, 404, 405, 421, 422, 403, 204]
    assert [_guard_headers(r) for r in answers] == [GUARD] * len(answers)


def test_a_route_csp_is_kept_and_completed() -> None:
    """A route's own CSP stays; frame-ancestors 'none' is added unless it names ancestors."""

    async def strict(request: Request) -> Response:
        return JSONResponse({}, headers={"content-security-policy": "default-src 'self'"})

    async def own(request: Request) -> Response:
        csp = "default-src 'none'; frame-ancestors 'self'"
        return JSONResponse({}, headers={"content-security-policy": csp})

    app = web_app([Route("/strict", strict), Route("/own", own)])
    with running_server(app) as url:
        a = httpx.get(f"{url}/strict").headers.get_list("content-security-policy")
        b = httpx.get(f"{url}/own").headers.get_list("content-security-policy")
    assert a == ["default-src 'self'; frame-ancestors 'none'"]
    assert b == ["default-src 'none'; frame-ancestors 'self'"]


def test_forwarded_for_uses_the_right_most_untrusted_hop(logger: RLHFLogger) -> None:
    """Behind one trusted proxy, a client writing its own left-most X-Forwarded-For
    hops still lands in the bucket of the address the proxy appended."""
    app = feedback_app(logger, trust_forwarded=True, ip_rate=0.001, ip_burst=2)
    with running_server(app) as url, httpx.Client(base_url=url) as c:
        codes = [c.get("/healthz").status_code] + [
            c.post(
                "/feedback", json={}, headers={"x-forwarded-for": f"10.9.9.{i}, 203.0.113.7"}
            ).status_code
            for i in range(5)
        ]
        other = c.post("/feedback", json={}, headers={"x-forwarded-for": "203.0.113.8"})
    # two requests fit the bucket of 203.0.113.7 (401: no token), the rest are 429
    assert codes[1:] == [401, 401, 429, 429, 429]
    assert other.status_code == 401


def test_forwarded_for_with_two_trusted_proxies(logger: RLHFLogger) -> None:
    """With trusted_proxies=2 the client is the second hop from the right; a request with
    fewer hops than that is counted under the socket peer."""
    app = feedback_app(logger, trust_forwarded=True, trusted_proxies=2, ip_rate=0.001, ip_burst=1)
    with running_server(app) as url, httpx.Client(base_url=url) as c:
        codes = [
            c.post("/feedback", json={}, headers={"x-forwarded-for": h}).status_code
            for h in (
                "1.1.1.1, 198.51.100.1, 10.0.0.2",
                "2.2.2.2, 198.51.100.1, 10.0.0.2",  # same client, other forged hop
                "198.51.100.2, 10.0.0.2",
                "10.0.0.2",  # too few hops: the socket peer (127.0.0.1)
                "10.0.0.3",
            )
        ]
    assert codes == [401, 429, 401, 401, 429]


def test_batch_spends_the_address_budget_per_item(logger: RLHFLogger) -> None:
    """A batch of 20 under a burst of 5 stores 5 items; the other 15 answer 429 each and
    the response carries Retry-After."""
    token = logger.feedback_token(IID, user_id="u-1")
    app = feedback_app(logger, ip_rate=0.001, ip_burst=5, token_rate=1000, token_burst=1000)
    items = [_vote(token, f"k{i}") for i in range(20)]
    with running_server(app) as url:
        r = httpx.post(f"{url}/feedback/batch", json={"items": items})
        again = httpx.post(f"{url}/feedback/batch", json={"items": items[:1]})
    assert r.status_code == 200
    codes = [item["code"] for item in r.json()["results"]]
    assert codes == [201] * 5 + [429] * 15
    assert {item["error"] for item in r.json()["results"][5:]} == {"rate_limited"}
    assert int(r.headers["retry-after"]) >= 1
    assert again.status_code == 429
    assert logger.flush()
    assert len(logger.query_feedback()) == 5


def _logger(data: Path) -> RLHFLogger:
    return create_rlhf_logger(
        tracer_provider=TracerProvider(),
        backend="local",
        data_dir=str(data),
        feedback_secret=SECRET,
        enable_session_tracking=False,
    )


def test_resend_after_restart_is_stored_once(tmp_path: Path) -> None:
    """A vote resent without "retry" to a restarted server on the same JSONL store answers
    200 duplicate with the same id, and the store holds it once."""
    data = tmp_path / "data"
    with _logger(data) as first:
        token = first.feedback_token(IID, user_id="u-1")
        with running_server(feedback_app(first)) as url:
            stored = httpx.post(f"{url}/feedback", json=_vote(token))
    with _logger(data) as second, running_server(feedback_app(second)) as url:
        resent = httpx.post(f"{url}/feedback", json=_vote(token))
        fresh = httpx.post(f"{url}/feedback", json=_vote(token, "k2", "thumbs_up"))
        assert second.flush()
        ids = sorted(fb.id for fb in second.query_feedback())
    assert stored.status_code == 201
    assert (resent.status_code, resent.json()) == (
        200,
        {"id": stored.json()["id"], "status": "duplicate"},
    )
    assert fresh.status_code == 201
    assert ids == sorted([stored.json()["id"], fresh.json()["id"]])


@pytest.mark.parametrize("value", ["feedback.example/x", "http://feedback.example", " "])
def test_allowed_hosts_must_be_names(logger: RLHFLogger, value: str) -> None:
    """An allowed host that is a URL or blank is a configuration error naming the form."""
    from rlhf_otel import ConfigurationError

    with pytest.raises(ConfigurationError, match="not a host name"):
        feedback_app(logger, allowed_hosts=[value])
