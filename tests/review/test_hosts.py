"""The review app's access guard on a real server: Host allow-list and framing headers."""

from __future__ import annotations

from pathlib import Path

import httpx
from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel.review import ReviewService, parse_queue, review_app
from rlhf_otel.web import running_server
from tests.review.support import SINGLE_QUEUE, open_logger, seed_singles


def test_review_app_refuses_foreign_hosts_and_framing(tmp_path: Path) -> None:
    """A foreign Host (DNS rebinding) gets 421 JSON on pages and API, an allowed name is
    served, and every answer forbids framing."""
    provider = TracerProvider()
    logger = open_logger(tmp_path / "data", provider)
    try:
        seed_singles(logger, n_down=2, n_up=1)
        service = ReviewService(logger, parse_queue(SINGLE_QUEUE))
        app = review_app(service, allowed_hosts=["review.example"])
        with running_server(app) as url, httpx.Client(base_url=url) as c:
            page = c.get("/")
            named = c.get("/", headers={"host": "review.example"})
            foreign = c.get("/", headers={"host": "rebind.example"})
            signin = c.post(
                "/api/signin",
                json={"reviewer": "r1", "token": None},
                headers={"host": "rebind.example", "origin": "http://rebind.example"},
            )
    finally:
        logger.close()
        provider.shutdown()
    assert [r.status_code for r in (page, named, foreign, signin)] == [200, 200, 421, 421]
    assert signin.json()["error"] == "misdirected"
    assert {r.headers["x-frame-options"] for r in (page, named, foreign, signin)} == {"DENY"}
    assert all(
        r.headers["content-security-policy"].endswith("frame-ancestors 'none'")
        for r in (page, named, foreign, signin)
    )
