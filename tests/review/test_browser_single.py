"""Two reviewers in headless Chromium review a blind 20-item queue by keyboard only."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import TracerProvider
from playwright.sync_api import Browser, Page

from rlhf_otel import FeedbackFilter, FeedbackType
from rlhf_otel.review import ReviewService, parse_queue
from tests.review.support import (
    SINGLE_QUEUE,
    Clock,
    open_logger,
    seed_singles,
    serving,
)


def _sign_in(page: Page, url: str, name: str) -> None:
    page.goto(url)
    page.wait_for_selector("#reviewer:focus")
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    page.wait_for_selector("#review:not([hidden])")


def _current(page: Page) -> str:
    page.wait_for_function(
        "() => document.querySelector('#item').dataset.key || !document.querySelector('#empty').hidden"
    )
    return page.evaluate("document.querySelector('#item').dataset.key")


def _answer(name: str, position: int) -> tuple[str, int, int, int]:
    """Each reviewer's deterministic answer for an item: thumbs key, rating, two dimensions."""
    thumbs = "u" if position % 3 == 0 else "d"
    rating = 1 + position % 5
    if name == "bob" and position % 4 == 1:
        rating = 1 + (position + 2) % 5
    accuracy = 1 + (position * 2) % 5
    helpful = 1 + position % 4 if name == "alice" else 1 + position % 3
    return thumbs, rating, accuracy, helpful


def _review_one(page: Page, name: str, shown: list[str], positions: dict[str, int]) -> bool:
    key = _current(page)
    if not key:
        if page.evaluate("document.querySelector('#empty').dataset.waiting") == "0":
            return False
        page.keyboard.press("j")  # others held items that may come back: check again
        page.wait_for_timeout(100)
        return True
    shown.append(key)
    pos = int(page.inner_text("#mode").rsplit(" ", 1)[-1])
    positions[key] = pos
    thumbs, rating, accuracy, helpful = _answer(name, pos)
    for k in (thumbs, str(rating), str(accuracy), str(helpful)):
        page.keyboard.press(k)
    if name == "alice" and pos == 2:
        page.keyboard.press("e")  # the correction editor opens, prefilled with the answer
        page.keyboard.press("Control+a")
        page.keyboard.type("answer 2: it is 4")
        page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "k => document.querySelector('#item').dataset.key !== k", arg=key, timeout=10_000
    )
    return True


def test_two_reviewers_blind_queue_by_keyboard(browser: Browser, tmp_path: Path) -> None:
    """20 items x 2 reviewers by keyboard: records, leases and shown agreement match analytics."""
    provider = TracerProvider()
    logger = open_logger(tmp_path / "data", provider)
    queued = seed_singles(logger)
    clock = Clock()
    with ExitStack() as stack, serving(logger, SINGLE_QUEUE, clock) as (service, url):
        # A third reviewer takes item 1 over the API and walks away: the lease expires.
        api = stack.enter_context(httpx.Client(base_url=url))
        carol = {
            "authorization": "Bearer "
            + api.post("/api/signin", json={"reviewer": "carol"}).json()["session"]
        }
        taken = api.post("/api/next", json={"client": "c1"}, headers=carol).json()
        assert taken["item"]["key"] == queued[0]
        assert "feedback" not in taken["item"]  # blind: no end-user feedback is sent at all
        clock.advance(121)

        pages = {}
        for name in ("alice", "bob"):
            ctx = browser.new_context()
            pages[name] = ctx.new_page()
            _sign_in(pages[name], url, name)
        shown: dict[str, list[str]] = {"alice": [], "bob": []}
        positions: dict[str, int] = {}
        assert _current(pages["alice"]) == queued[0]  # the expired lease came back
        assert pages["alice"].is_hidden("#others")
        assert "end-user-0" not in pages["alice"].content()  # nobody's feedback is shown

        # Carol's late answer is refused: the item went to alice; nothing is stored.
        late = api.post(
            "/api/submit",
            json={"item": queued[0], "lease": taken["lease"]["id"], "submission": "carol-late-1",
                  "answers": {"binary": "thumbs_up", "rating": 5, "dimensions": {"accuracy": 5, "helpfulness": 5}}},
            headers=carol,
        )  # fmt: skip
        assert late.status_code == 409
        assert late.json()["error"] == "lease_expired"
        assert "was not saved and nothing was counted" in late.json()["detail"]

        busy = True
        while busy:
            busy = False
            for name in ("alice", "bob"):
                for _ in range(3):
                    busy = _review_one(pages[name], name, shown[name], positions) or busy

        # Alice goes back with K to her last review, changes the rating, and comes back.
        alice = pages["alice"]
        alice.keyboard.press("k")
        alice.wait_for_function(
            "() => document.querySelector('#mode').textContent.startsWith('Your review')"
        )
        last_key = alice.evaluate("document.querySelector('#item').dataset.key")
        assert last_key == shown["alice"][-1]
        alice.keyboard.press("2")  # the highlighted field is the rating
        alice.keyboard.press("Enter")
        alice.wait_for_selector("#status:has-text('Changed')")
        alice.keyboard.press("j")
        alice.wait_for_selector("#empty:not([hidden])")
        alice.wait_for_function(
            "() => document.querySelectorAll('#agreement tbody tr').length >= 4", timeout=15_000
        )
        alice.keyboard.press("?")
        assert alice.is_visible("#help:has-text('both bad')")
        alice.keyboard.press("Escape")
        assert alice.is_hidden("#help")
        shown_rows = alice.eval_on_selector_all(
            "#agreement tbody tr", "rows => rows.map(r => Array.from(r.cells, c => c.textContent))"
        )

    # Leases: no reviewer was given an item twice, and each saw all 20 once.
    for name in ("alice", "bob"):
        assert len(shown[name]) == len(set(shown[name])) == 20
        assert set(shown[name]) == set(queued)

    logger.flush()
    reviews = logger.query_feedback(source="review")
    superseded = {fb.supersedes for fb in reviews if fb.supersedes}
    counting = [fb for fb in reviews if fb.id not in superseded]
    assert len(reviews) == 20 * 2 * 3 + 1 + 1  # 3 records per review, 1 correction, 1 change
    assert len(counting) == 20 * 2 * 3 + 1
    assert {fb.user_id for fb in reviews} == {"alice", "bob"}
    assert {fb.metadata["queue"] for fb in reviews} == {"triage"}
    changed = [fb for fb in reviews if fb.supersedes]
    assert len(changed) == 1
    assert changed[0].data["rating"] == 2
    assert changed[0].interaction_id == last_key
    corrections = [fb for fb in reviews if fb.type is FeedbackType.TEXT]
    assert [fb.data["correction"] for fb in corrections] == ["answer 2: it is 4"]
    assert corrections[0].user_id == "alice"
    for fb in counting:
        if fb.supersedes:
            continue
        thumbs, rating, accuracy, helpful = _answer(str(fb.user_id), positions[fb.interaction_id])
        if fb.type is FeedbackType.RATING:
            assert fb.data["rating"] == rating
        elif fb.type is FeedbackType.BINARY:
            assert fb.data["value"] == ("thumbs_up" if thumbs == "u" else "thumbs_down")
        elif fb.type is FeedbackType.MULTI_DIMENSIONAL:
            assert fb.data["dimensions"] == {"accuracy": accuracy, "helpfulness": helpful}
            assert fb.data["weights"] == {"accuracy": 2, "helpfulness": 1}

    # The agreement the page showed equals get_analytics over the same records.
    result = logger.get_analytics(FeedbackFilter(source="review"))
    expected = [
        [
            a.kind,
            str(a.items),
            str(a.raters),
            _f(a.krippendorff_alpha),
            _f(a.fleiss_kappa),
            _f(a.cohen_kappa),
        ]
        for a in result.agreement
    ]
    assert [r[0] for r in expected] == [
        "binary",
        "rating",
        "dimension:accuracy",
        "dimension:helpfulness",
    ]
    assert shown_rows == expected

    # A restart rebuilds the queue state from the store: everything is done.
    restarted = ReviewService(logger, parse_queue(SINGLE_QUEUE))
    progress = restarted.progress("alice")
    assert (progress["items"], progress["complete"], progress["reviews"]) == (20, 20, 40)
    assert progress["me"] == {
        "reviewer": "alice", "reviews": 20, "remaining": 0, "done": 20, "skipped": 0,
        "open": 0, "passed": 0, "closed": 0, "held": 0, "todo": 0, "items": 20,
    }  # fmt: skip
    assert restarted.next("bob", "x") == {"item": None, "lease": None, "waiting": 0}
    logger.close()
    provider.shutdown()


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"
