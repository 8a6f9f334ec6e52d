"""The review app's HTTP API on a real server: sign-in, bad answers, retries, tabs, restart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from playwright.sync_api import Browser

from rlhf_otel import RLHFLogger
from rlhf_otel.review import ReviewService, parse_queue, review_app
from rlhf_otel.web import running_server
from tests.review.support import SINGLE_QUEUE, open_logger, seed_singles, serving

GOOD = {"binary": "thumbs_up", "rating": 4, "dimensions": {"accuracy": 3, "helpfulness": 5}}


@pytest.fixture
def logger(tmp_path: Path) -> Iterator[RLHFLogger]:
    provider = TracerProvider()
    lg = open_logger(tmp_path / "data", provider)
    seed_singles(lg, n_down=4, n_up=1)
    yield lg
    lg.close()
    provider.shutdown()


def _session(api: httpx.Client, name: str, token: str | None = None) -> dict[str, str]:
    r = api.post("/api/signin", json={"reviewer": name, "token": token})
    assert r.status_code == 200, r.text
    return {"authorization": "Bearer " + r.json()["session"]}


def test_sign_in_and_sessions(logger: RLHFLogger) -> None:
    """A shared token is checked; calls without a valid session get 401 JSON."""
    service = ReviewService(logger, parse_queue(SINGLE_QUEUE), token="s3cret")
    with running_server(review_app(service)) as url, httpx.Client(base_url=url) as api:
        assert api.post("/api/signin", json={"reviewer": "ann", "token": "nope"}).json() == {
            "error": "unauthorized", "detail": "wrong reviewer token",
        }  # fmt: skip
        bad = api.post("/api/signin", json={"reviewer": "", "token": "s3cret"})
        assert bad.status_code == 422
        assert bad.json()["detail"].startswith("reviewer name must be 1-64 of letters")
        r = api.post("/api/next", json={"client": "t"})
        assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
        forged = {"authorization": "Bearer 0000.ann"}
        assert api.post("/api/next", json={"client": "t"}, headers=forged).status_code == 401
        ok = api.post("/api/next", json={"client": "t"}, headers=_session(api, "ann", "s3cret"))
        assert ok.status_code == 200
        assert ok.json()["item"]["position"] == 1


def test_bad_answers_retries_and_conflicts(logger: RLHFLogger) -> None:
    """Bad answers get 422 and log nothing; a retried submission is stored once."""
    with ExitStack() as stack, serving(logger, SINGLE_QUEUE) as (service, url):
        api = stack.enter_context(httpx.Client(base_url=url))
        ann = _session(api, "ann")
        got = api.post("/api/next", json={"client": "t"}, headers=ann).json()
        body: dict[str, Any] = {
            "item": got["item"]["key"],
            "lease": got["lease"]["id"],
            "submission": "sub-00000001",
        }
        missing = api.post(
            "/api/submit", json={**body, "answers": {"binary": "thumbs_up"}}, headers=ann
        )
        assert missing.status_code == 422
        assert missing.json() == {
            "error": "invalid",
            "detail": "missing or not allowed: rating: a whole number 1..5; dimension "
            "accuracy: a whole number 1..5; dimension helpfulness: a whole number 1..5",
        }
        wrong_dims = {**GOOD, "dimensions": {"accuracy": 3}}
        r = api.post("/api/submit", json={**body, "answers": wrong_dims}, headers=ann)
        assert r.json()["detail"] == (
            "missing or not allowed: dimension helpfulness: a whole number 1..5"
        )
        text = api.post("/api/submit", content=b"x", headers={**ann, "content-type": "text/plain"})
        assert text.status_code == 415
        first = api.post("/api/submit", json={**body, "answers": GOOD}, headers=ann)
        retry = api.post("/api/submit", json={**body, "answers": GOOD}, headers=ann)
        assert first.status_code == retry.status_code == 200
        assert retry.json() == {**first.json(), "repeated": True}
        again = api.post(
            "/api/submit", json={**body, "submission": "sub-00000002", "answers": GOOD}, headers=ann
        )
        assert (again.status_code, again.json()["error"]) == (409, "already_reviewed")
        progress = api.get("/api/progress", headers=ann).json()
        assert (progress["reviews"], progress["me"]) == (
            1,
            {
                "reviewer": "ann",
                "reviews": 1,
                "remaining": 3,
                "done": 1,
                "skipped": 0,
                "open": 0,
                "passed": 0,
                "closed": 0,
                "held": 0,
                "todo": 3,
                "items": 4,
            },  # fmt: skip
        )
    logger.flush()
    assert len(logger.query_feedback(source="review")) == 3


def test_restart_rebuilds_state_from_the_store(logger: RLHFLogger) -> None:
    """Done items come back from the stored review feedback; a change supersedes across runs."""
    service = ReviewService(logger, parse_queue(SINGLE_QUEUE))
    got = service.next("ann", "t")
    key = got["item"]["key"]
    service.submit(
        "ann",
        {"item": key, "lease": got["lease"]["id"], "submission": "first-0001", "answers": GOOD},
    )
    logger.flush()
    again = ReviewService(logger, parse_queue(SINGLE_QUEUE))
    assert again.reviewed("ann") == [key]
    assert again.next("ann", "t")["item"]["key"] != key
    assert again.revisit("ann", key)["answers"] == {
        "binary": "thumbs_up", "rating": 4, "dimensions": {"accuracy": 3, "helpfulness": 5},
    }  # fmt: skip
    changed = again.submit(
        "ann",
        {
            "item": key,
            "revise": True,
            "submission": "change-0001",
            "answers": {**GOOD, "rating": 1},
        },
    )
    assert changed["feedback_ids"] == ["change-0001.rating"]
    logger.flush()
    new = logger.get_feedback("change-0001.rating")
    assert new is not None
    assert new.supersedes == "first-0001.rating"
    assert again.progress()["agreement"] == []


def test_second_tab_gets_a_clear_message(browser: Browser, logger: RLHFLogger) -> None:
    """A second tab is told the item is open elsewhere; O takes it over; one review counts."""
    with serving(logger, SINGLE_QUEUE) as (service, url):
        ctx = browser.new_context()
        tab1 = ctx.new_page()
        tab1.goto(url)
        tab1.wait_for_selector("#reviewer:focus")
        tab1.keyboard.type("ann")
        tab1.keyboard.press("Enter")
        tab1.wait_for_selector("#single:not([hidden])")
        key = tab1.evaluate("document.querySelector('#item').dataset.key")
        tab2 = ctx.new_page()
        tab2.goto(url)
        tab2.wait_for_selector("#conflict-detail:has-text('in another tab or window')")
        assert tab2.inner_text("#takeover") == "Take it over here (O)"
        tab2.keyboard.press("o")
        tab2.wait_for_function("k => document.querySelector('#item').dataset.key === k", arg=key)
        for k in ("u", "4", "3", "5", "Enter"):
            tab1.keyboard.press(k)
        tab1.wait_for_selector("#alert:has-text('taken over in another tab')")
        for k in ("d", "2", "2", "2", "Enter"):
            tab2.keyboard.press(k)
        tab2.wait_for_function("k => document.querySelector('#item').dataset.key !== k", arg=key)
    logger.flush()
    stored = logger.query_feedback(source="review")
    assert sorted((fb.type.value, fb.interaction_id) for fb in stored) == [
        ("binary", key), ("multi_dimensional", key), ("rating", key),
    ]  # fmt: skip
    assert {fb.data.get("rating") for fb in stored} == {None, 2}
