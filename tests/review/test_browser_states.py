"""What a reviewer sees in each state of the review app (headless Chromium, keyboard only):
exactly that state's controls, rendered Markdown, guidelines, no model name in a blind queue,
skip and undo, and axe-core on every state."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from playwright.sync_api import Browser, Page

from rlhf_otel import RLHFLogger
from rlhf_otel.review import ReviewService, parse_queue, review_app
from rlhf_otel.web import running_server
from tests.a11y.checks import check_page
from tests.review.support import (
    MODELS,
    PAIR_QUEUE,
    SINGLE_QUEUE,
    Clock,
    open_logger,
    seed_pairs,
    seed_singles,
)

COMMON = {"help-button", "search", "filter", "find-button"}
SCORES = {f"rating:{v}" for v in range(1, 6)} | {
    f"{d}:{v}" for d in ("accuracy", "helpfulness") for v in range(1, 6)
}
SINGLE_CONTROLS = COMMON | SCORES | {
    "binary:thumbs_up", "binary:thumbs_down", "comment", "submit", "skip", "undo",
}  # fmt: skip
PAIR_CONTROLS = COMMON | {
    "vote:A", "vote:B", "vote:tie", "vote:both_bad", "comment", "submit", "skip", "undo",
}  # fmt: skip
GUIDED_QUEUE: Mapping[str, Any] = {
    **SINGLE_QUEUE,
    "name": "guided",
    "blind": False,
    "guidelines": "Judge **correctness** first.\n\n- then clarity",
    "rubric": {
        **SINGLE_QUEUE["rubric"],
        "guide": {
            "rating": {
                "description": "Overall quality",
                "scores": {1: "wrong", 3: "partly right", 5: "right and complete"},
            },
            "accuracy": "Facts and arithmetic are *correct*",
        },
    },
}
RICH = (
    "Use **slicing**:\n\n```python\nxs = [1, 2]\nprint(xs[::-1])  # reversed\n```\n\n"
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
)

# Each visible interactive element, named by what it does.
_NAMES_JS = """els => els.map(e => {
  if (e.dataset.vote) return 'vote:' + e.dataset.vote;
  if (e.dataset.binary) return 'binary:' + e.dataset.binary;
  const score = e.closest('.score');
  if (score && e.dataset.value) {
    const f = score.dataset.field;
    return (f === 'rating' ? 'rating' : f.slice(4)) + ':' + e.dataset.value;
  }
  return e.id || e.tagName.toLowerCase() + ':' + e.textContent.trim();
})"""


def visible_controls(page: Page) -> set[str]:
    """Names of the interactive elements Playwright considers visible."""
    controls = page.locator("button, input, select, textarea, summary, a[href]")
    names = controls.evaluate_all(_NAMES_JS)
    return {name for i, name in enumerate(names) if controls.nth(i).is_visible()}


def sign_in(page: Page, url: str, name: str, check: str | None = None) -> None:
    """Sign in by keyboard and wait for the first item (or the empty/conflict screen);
    ``check`` runs axe on the sign-in page under that name first."""
    page.goto(url)
    page.wait_for_selector("#reviewer:focus")
    assert visible_controls(page) == {"help-button", "reviewer", "signin-submit"}
    if check:
        _no_bad_a11y(page, check)
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    page.wait_for_selector("#review[data-state]")


@contextmanager
def serve(
    logger: RLHFLogger, queue: Mapping[str, Any], tmp_path: Path
) -> Iterator[tuple[ReviewService, str]]:
    """The review app with a skip log, on a real uvicorn server on 127.0.0.1."""
    service = ReviewService(
        logger, parse_queue(queue), clock=Clock(), skip_log=tmp_path / "skips.jsonl"
    )
    with running_server(review_app(service)) as url:
        yield service, url


@pytest.fixture
def logger(tmp_path: Path) -> Iterator[RLHFLogger]:
    """A logger on a JSONL store under tmp_path, with its own tracer provider."""
    provider = TracerProvider()
    lg = open_logger(tmp_path / "data", provider)
    yield lg
    lg.close()
    provider.shutdown()


def _no_bad_a11y(page: Page, name: str) -> None:
    assert check_page(page, name) == []


def test_single_item_state_guidelines_markdown_and_help(
    browser: Browser, logger: RLHFLogger, tmp_path: Path
) -> None:
    """A single-answer item shows exactly its controls, its guidelines beside the rubric and
    in the focused help dialog, and renders Markdown and code while a script stays text."""
    seed_singles(logger, n_down=3, n_up=0)
    rich = logger.log_interaction(
        "how do I reverse?",
        RICH,
        model=MODELS[0],
        context=[
            {"role": "user", "content": "I write **Python**."},
            {"role": "assistant", "content": "Good, ask away."},
        ],
    )
    logger.log_binary_feedback(rich, False, source="web")
    logger.flush()
    with serve(logger, GUIDED_QUEUE, tmp_path) as (service, url):
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        sign_in(page, url, "ann", check="review-signin")
        assert page.get_attribute("#review", "data-state") == "item"
        assert visible_controls(page) == SINGLE_CONTROLS | {"summary:Guidelines for this queue"}
        # guidelines: open on the first visit, Markdown rendered
        assert page.is_visible("#guidelines-body strong:has-text('correctness')")
        assert page.is_visible(".score[data-field=rating] .guide:has-text('Overall quality')")
        assert page.inner_text(".score[data-field=rating] .meanings") == (
            "1 = wrong\n3 = partly right\n5 = right and complete"
        )
        assert page.is_visible(".score[data-field='dim:accuracy'] .guide em:has-text('correct')")
        # not blind: the model is named
        assert page.text_content("#model") == f"({MODELS[0]})"
        page.keyboard.press("?")
        assert page.evaluate("() => document.activeElement.id") == "help"
        assert page.is_visible("#help-guidelines strong:has-text('correctness')")
        assert page.is_visible("#help-rubric li:has-text('5 = right and complete')")
        page.keyboard.press("Escape")
        assert page.is_hidden("#help")
        _no_bad_a11y(page, "review-single")
        # validation names every missing answer at once
        page.keyboard.press("Enter")
        assert page.inner_text("#alert") == (
            "Missing: thumbs (U or D); rating (a score); accuracy (a score); helpfulness (a score)."
        )
        # the rich answer is item 4: find it by keyboard
        page.keyboard.press("/")
        page.keyboard.type("reverse")
        page.keyboard.press("Enter")
        page.wait_for_selector("#results:not([hidden])")
        assert page.inner_text("#results-count") == "1 item(s) match."
        page.keyboard.press("Enter")  # the first result has the focus
        page.wait_for_function("k => document.querySelector('#item').dataset.key === k", arg=rich)
        assert page.locator("#response strong").inner_text() == "slicing"
        assert page.locator("#response pre.code code[data-lang=python] .tok-c").inner_text() == (
            "# reversed"
        )
        # the conversation before the prompt is a thread, rendered the same way
        assert page.locator("#thread-list li").all_inner_texts() == [
            "USER\n\nI write Python.",
            "ASSISTANT\n\nGood, ask away.",
        ]
        assert page.locator("#thread-list li.role-user strong").inner_text() == "Python"
        assert page.locator("#response img").count() == 0
        assert page.locator("#response script").count() == 0
        assert "<script>window.__pwned = 1</script>" in page.inner_text("#response")
        assert page.evaluate("() => window.__pwned === undefined")
        _no_bad_a11y(page, "review-markdown")


def _api_bodies(page: Page) -> list[str]:
    bodies: list[str] = []

    def keep(response: Any) -> None:
        # a body the browser dropped is not a leak
        if "/api/" in response.url:
            with contextlib.suppress(Exception):
                bodies.append(response.text())

    page.on("response", keep)
    return bodies


def _leaks(page: Page, bodies: list[str]) -> list[str]:
    html = page.content()  # attributes included
    text = page.inner_text("body")
    return [m for m in MODELS for hay in (html, text, *bodies) if m in hay]


def test_blind_single_queue_names_no_model_before_the_vote(
    browser: Browser, logger: RLHFLogger, tmp_path: Path
) -> None:
    """Blind single-answer queue: neither the page (text, attributes) nor any API answer
    names a model; the controls are the single-answer set."""
    seed_singles(logger, n_down=4, n_up=0)
    queue = {**SINGLE_QUEUE, "selection": {"thumbs_down": True, "models": list(MODELS)}}
    with serve(logger, queue, tmp_path) as (_, url):
        page = browser.new_page()
        bodies = _api_bodies(page)
        sign_in(page, url, "ann")
        assert visible_controls(page) == SINGLE_CONTROLS
        page.keyboard.press("/")
        page.keyboard.press("Enter")  # a search lists every item
        page.wait_for_selector("#results:not([hidden])")
        page.keyboard.press("Escape")
        assert _leaks(page, bodies) == []
        with httpx.Client(base_url=url) as api:
            session = api.post("/api/signin", json={"reviewer": "bob"}).json()["session"]
            auth = {"authorization": f"Bearer {session}"}
            answers = [
                api.post("/api/next", json={"client": "c"}, headers=auth).text,
                api.get("/api/queue", headers=auth).text,
                api.get("/api/progress", headers=auth).text,
                api.get("/api/find", headers=auth).text,
            ]
        assert [m for m in MODELS for body in answers if m in body] == []
        _no_bad_a11y(page, "review-blind")


def test_pairwise_blind_states_and_reveal(
    browser: Browser, logger: RLHFLogger, tmp_path: Path
) -> None:
    """Blind arena: before the vote only A/B/tie/both-bad, the reason and the actions show
    and no model name is anywhere; after the vote the names and only Next/Undo show."""
    seed_pairs(logger, prompts=3)
    with serve(logger, PAIR_QUEUE, tmp_path) as (_, url):
        page = browser.new_page()
        bodies = _api_bodies(page)
        sign_in(page, url, "ann")
        assert page.is_visible("#pair")
        assert visible_controls(page) == PAIR_CONTROLS
        assert _leaks(page, bodies) == []
        _no_bad_a11y(page, "review-pair")
        page.keyboard.press("t")
        page.keyboard.press("Enter")
        page.wait_for_selector("#status:has-text('A was')")
        assert visible_controls(page) == COMMON | {"next", "undo-after"}
        assert {page.text_content("#model-a"), page.text_content("#model-b")} <= {
            f"({m})" for m in MODELS
        }
        _no_bad_a11y(page, "review-pair-revealed")


def test_done_and_second_tab_states(browser: Browser, logger: RLHFLogger, tmp_path: Path) -> None:
    """Nothing left: no rubric at all and a persistent confirmation; a second tab: only the
    take-over button; O takes it over."""
    seed_singles(logger, n_down=1, n_up=0)
    with serve(logger, SINGLE_QUEUE, tmp_path) as (_, url):
        ctx = browser.new_context()
        tab1 = ctx.new_page()
        sign_in(tab1, url, "ann")
        tab2 = ctx.new_page()
        tab2.goto(url)
        tab2.wait_for_selector("#review[data-state=conflict]")
        assert visible_controls(tab2) == COMMON | {"takeover"}
        _no_bad_a11y(tab2, "review-second-tab")
        tab2.keyboard.press("o")
        tab2.wait_for_selector("#review[data-state=item]")
        for key in ("u", "4", "3", "5", "Enter"):
            tab2.keyboard.press(key)
        tab2.wait_for_selector("#review[data-state=empty]")
        assert visible_controls(tab2) == COMMON
        # the confirmation stays on the next screen until the next action
        assert tab2.inner_text("#status") == (
            "Saved item 1 (thumbs up, rating 4, accuracy 3, helpfulness 5)."
        )
        _no_bad_a11y(tab2, "review-done")


def test_skip_with_reason_undo_and_counts(
    browser: Browser, logger: RLHFLogger, tmp_path: Path
) -> None:
    """S skips with a chosen reason (kept in the skip log), Z takes it back, the review
    that follows is stored once, and the counts always add up to the queue's items."""
    down = seed_singles(logger, n_down=3, n_up=0)
    with serve(logger, SINGLE_QUEUE, tmp_path) as (service, url):
        page = browser.new_page()
        sign_in(page, url, "ann")
        first = page.evaluate("() => document.querySelector('#item').dataset.key")
        page.keyboard.press("s")
        assert page.evaluate("() => document.activeElement.id") == "skip-reason"
        page.keyboard.press("ArrowDown")  # "prompt unclear"
        page.keyboard.press("Enter")
        page.wait_for_function("k => document.querySelector('#item').dataset.key !== k", arg=first)
        assert page.inner_text("#status") == "Skipped item 1 (prompt unclear). Press Z to undo."
        page.wait_for_selector("#mine:has-text('1 skipped')")
        assert page.inner_text("#mine") == (
            "0 done · 1 skipped · 1 open · 1 to do · 0 with others · 3 items"
        )
        page.keyboard.press("z")
        page.wait_for_function("k => document.querySelector('#item').dataset.key === k", arg=first)
        assert page.inner_text("#status") == "Skip undone: item 1 is yours again."
        for key in ("d", "2", "2", "2", "Enter"):
            page.keyboard.press(key)
        page.wait_for_function("k => document.querySelector('#item').dataset.key !== k", arg=first)
        page.wait_for_selector("#mine:has-text('1 done')")
        assert page.inner_text("#mine") == (
            "1 done · 0 skipped · 1 open · 1 to do · 0 with others · 3 items"
        )
    logger.flush()
    stored = logger.query_feedback(source="review")
    assert sorted((fb.type.value, fb.interaction_id) for fb in stored) == [
        ("binary", down[0]), ("multi_dimensional", down[0]), ("rating", down[0]),
    ]  # fmt: skip
    log = [json.loads(line) for line in (tmp_path / "skips.jsonl").read_text().splitlines()]
    assert [(e["reviewer"], e["item"], e["action"], e["reason"]) for e in log] == [
        ("ann", first, "skip", "prompt unclear"),
        ("ann", first, "undo", None),
    ]
    assert (tmp_path / "skips.jsonl").stat().st_mode & 0o777 == 0o600
    # a restart replays the log: the item is reviewed, not skipped
    again = ReviewService(logger, parse_queue(SINGLE_QUEUE), skip_log=tmp_path / "skips.jsonl")
    tally = again.progress("ann")["me"]
    assert (tally["done"], tally["skipped"], tally["todo"], tally["items"]) == (1, 0, 2, 3)
