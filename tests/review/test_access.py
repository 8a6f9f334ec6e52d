"""Who may review, on a real server: per-reviewer tokens, the sign-in limit, the page CSP
and the trusted proxy header."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import RLHFLogger
from rlhf_otel.cli import main
from rlhf_otel.review import (
    ReviewerTokens,
    ReviewService,
    SignInLimiter,
    parse_queue,
    review_app,
)
from rlhf_otel.web import running_server
from tests.review.support import SINGLE_QUEUE, Clock, open_logger, seed_singles

GOOD = {"binary": "thumbs_up", "rating": 4, "dimensions": {"accuracy": 3, "helpfulness": 5}}


@pytest.fixture
def logger(tmp_path: Path) -> Iterator[RLHFLogger]:
    """A logger on a JSONL store under tmp_path with two thumbs-down answers to review."""
    provider = TracerProvider()
    lg = open_logger(tmp_path / "data", provider)
    seed_singles(lg, n_down=2, n_up=0)
    yield lg
    lg.close()
    provider.shutdown()


def _mint(path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["review-token", name, "--reviewers", str(path)]) == 0
    out = capsys.readouterr()
    assert out.err == (
        f"rlhf-otel review-token: {name} added to {path}; give them the token above (shown "
        "once; the file keeps only its digest)\n"
    )
    return out.out.strip()


def test_reviewer_id_is_the_tokens_whatever_the_body_claims(
    logger: RLHFLogger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a reviewers file, the token names the reviewer: sign-in and submit bodies that
    claim another reviewer are ignored, and the stored user id is the token's."""
    reviewers = tmp_path / "reviewers.txt"
    alice, bob = _mint(reviewers, "alice", capsys), _mint(reviewers, "bob", capsys)
    assert re.fullmatch(r"rvt_[A-Za-z0-9_-]{32}", alice)
    text = reviewers.read_text()
    assert [t for t in (alice, bob) if t in text] == []  # digests only
    assert reviewers.stat().st_mode & 0o777 == 0o600
    assert main(["review-token", "alice", "--reviewers", str(reviewers)]) == 2
    assert "already has a token" in capsys.readouterr().err
    service = ReviewService(
        logger, parse_queue(SINGLE_QUEUE), reviewers=ReviewerTokens.load(reviewers)
    )
    with running_server(review_app(service)) as url, httpx.Client(base_url=url) as api:
        assert api.get("/api/config").json() == {"auth": "reviewers"}
        wrong = api.post("/api/signin", json={"reviewer": "alice", "token": "rvt_guess"})
        signed = api.post("/api/signin", json={"reviewer": "bob", "token": alice})
        auth = {"authorization": f"Bearer {signed.json()['session']}"}
        got = api.post("/api/next", json={"client": "c"}, headers=auth).json()
        sent = api.post(
            "/api/submit",
            json={
                "item": got["item"]["key"],
                "lease": got["lease"]["id"],
                "submission": "sub-claims-bob",
                "answers": GOOD,
                "reviewer": "bob",
                "user_id": "bob",
            },
            headers=auth,
        )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "unauthorized")
    assert (signed.status_code, signed.json()["reviewer"]) == (200, "alice")
    assert sent.status_code == 200
    logger.flush()
    stored = logger.query_feedback(source="review")
    assert sorted((fb.type.value, fb.user_id) for fb in stored) == [
        ("binary", "alice"), ("multi_dimensional", "alice"), ("rating", "alice"),
    ]  # fmt: skip


def test_thirty_wrong_sign_ins_then_429(logger: RLHFLogger) -> None:
    """30 wrong sign-ins from one address get 401; the next try, even with the right
    token, gets 429 with Retry-After; once the window has passed sign-in works again."""
    clock = Clock()
    service = ReviewService(logger, parse_queue(SINGLE_QUEUE), token="right-token-123")
    app = review_app(service, sign_in_limiter=SignInLimiter(30, 600.0, clock=clock))
    with running_server(app) as url, httpx.Client(base_url=url) as api:
        codes = [
            api.post("/api/signin", json={"reviewer": "eve", "token": f"guess-{i}"}).status_code
            for i in range(30)
        ]
        blocked = api.post("/api/signin", json={"reviewer": "eve", "token": "right-token-123"})
        clock.advance(601)
        after = api.post("/api/signin", json={"reviewer": "eve", "token": "right-token-123"})
    assert codes == [401] * 30
    assert (blocked.status_code, blocked.json()["error"]) == (429, "rate_limited")
    assert blocked.headers["retry-after"] == "600"
    assert after.status_code == 200


def test_pages_carry_a_strict_csp_and_no_inline_code(logger: RLHFLogger) -> None:
    """The page and its assets carry a CSP without 'unsafe-inline' (script-src 'self'),
    and the page has no inline script, style attribute or event handler attribute."""
    service = ReviewService(logger, parse_queue(SINGLE_QUEUE))
    with running_server(review_app(service)) as url, httpx.Client(base_url=url) as api:
        page = api.get("/")
        answers = [page, api.get("/static/review.js"), api.get("/api/config")]
    csp = [r.headers["content-security-policy"] for r in answers]
    assert {c for c in csp} == {
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    }
    html = page.text
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert re.findall(r"\sstyle=|\son[a-z]+=", html) == []


def test_trusted_proxy_header_names_the_reviewer(logger: RLHFLogger) -> None:
    """With a trusted user header, the proxy's header alone names the reviewer; without it
    every call is 401."""
    service = ReviewService(logger, parse_queue(SINGLE_QUEUE), user_header="X-Forwarded-User")
    with running_server(review_app(service)) as url, httpx.Client(base_url=url) as api:
        mode = api.get("/api/config").json()
        none = api.post("/api/next", json={"client": "c"})
        who = {"x-forwarded-user": "carol"}
        signed = api.post("/api/signin", json={"reviewer": "mallory"}, headers=who)
        got = api.post("/api/next", json={"client": "c"}, headers=who).json()
        body: dict[str, Any] = {
            "item": got["item"]["key"],
            "lease": got["lease"]["id"],
            "submission": "sub-proxy-001",
            "answers": GOOD,
        }
        sent = api.post("/api/submit", json=body, headers=who)
    assert mode == {"auth": "proxy"}
    assert none.status_code == 401
    assert (signed.status_code, signed.json()["reviewer"]) == (200, "carol")
    assert sent.status_code == 200
    logger.flush()
    assert {fb.user_id for fb in logger.query_feedback(source="review")} == {"carol"}
