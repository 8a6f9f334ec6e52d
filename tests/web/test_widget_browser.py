"""The <rlhf-feedback> widget in headless Chromium against the real feedback service."""

from __future__ import annotations

import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from rlhf_otel import Feedback, RLHFLogger
from rlhf_otel.web import running_server
from tests.web.conftest import Site, page_html

IID_A = "chat-a-1"
IID_B = "chat-b-1"


def _stored(logger: RLHFLogger, n: int, timeout: float = 10.0) -> list[Feedback]:
    deadline = time.monotonic() + timeout
    while True:
        found = logger.query_feedback()
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _open(site: Site, context: Any, name: str, **attrs: str) -> Any:
    site.pages[name] = page_html("/rlhf", [attrs])
    page = context.new_page()
    page.goto(f"{site.url}/page/{name}")
    page.wait_for_function("customElements.get('rlhf-feedback') !== undefined")
    return page


def _saved(page: Any, n: int = 1) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('rlhf-feedback[data-state=saved]').length >= {n}",
        timeout=10_000,
    )


def test_thumbs_click_stores_binary_feedback(
    site: Site, logger: RLHFLogger, browser_context: Any
) -> None:
    """A click on thumbs up stores one binary record on the page's interaction, from the
    token's user, with the server's source; the widget shows it saved."""
    token = logger.feedback_token(IID_A, user_id="u-1")
    page = _open(site, browser_context, "t", token=token, **{"interaction-id": IID_A})
    page.locator("rlhf-feedback button[data-value=thumbs_up]").click()
    _saved(page)
    assert page.locator("rlhf-feedback .status[data-for=binary]").inner_text() == (
        "Thumbs: Saved. Thank you!"
    )
    [fb] = _stored(logger, 1)
    assert (fb.type.value, dict(fb.data), fb.interaction_id, fb.user_id, fb.source) == (
        "binary",
        {"value": "thumbs_up"},
        IID_A,
        "u-1",
        "web",
    )
    assert fb.id.startswith("wf.")


def test_stars_with_arrow_keys_keep_only_the_latest_rating(
    site: Site, logger: RLHFLogger, browser_context: Any
) -> None:
    """Keyboard rating: arrows only move the focus (nothing is sent); End then Enter gives 5
    stars, ArrowLeft then Enter 4; the 4 supersedes the 5 and stats count one rating of 4."""
    token = logger.feedback_token(IID_A)
    page = _open(
        site, browser_context, "s", token=token, controls="stars", **{"interaction-id": IID_A}
    )
    page.keyboard.press("Tab")
    for key in ("ArrowRight", "ArrowRight", "End"):
        page.keyboard.press(key)
    assert page.evaluate("() => document.querySelector('rlhf-feedback').dataset.state") is None
    assert (
        page.evaluate(
            "() => document.querySelector('rlhf-feedback').shadowRoot.activeElement.dataset.value"
        )
        == "5"
    )
    page.keyboard.press("Enter")
    _saved(page)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    found = _stored(logger, 2)
    assert [fb.data["rating"] for fb in found] == [5, 4]
    assert found[1].supersedes == found[0].id
    assert (
        page.locator("rlhf-feedback button[aria-checked=true]").get_attribute("aria-label")
        == "4 stars"
    )
    stats = logger.get_feedback_stats()
    assert (stats.total_feedback, stats.rating.count, stats.rating.average) == (1, 1, 4.0)  # type: ignore[union-attr]


def test_comment_and_dimensions(site: Site, logger: RLHFLogger, browser_context: Any) -> None:
    """A typed comment and dimension scores are stored as text and multi-dimensional
    feedback on the interaction."""
    token = logger.feedback_token(IID_A)
    page = _open(
        site,
        browser_context,
        "c",
        token=token,
        controls="comment dimensions",
        dimensions="accuracy,clarity",
        **{"interaction-id": IID_A},
    )
    page.locator("rlhf-feedback textarea").fill("Clear, but cite a source.")
    page.locator("rlhf-feedback button.send-comment").click()
    _saved(page)
    page.locator("rlhf-feedback select[data-dimension=accuracy]").select_option("5")
    page.locator("rlhf-feedback select[data-dimension=clarity]").select_option("2")
    page.locator("rlhf-feedback button.send-dimensions").click()
    found = _stored(logger, 2)
    assert [(fb.type.value, fb.interaction_id) for fb in found] == [
        ("text", IID_A),
        ("multi_dimensional", IID_A),
    ]
    assert found[0].data["comment"] == "Clear, but cite a source."
    assert dict(found[1].data["dimensions"]) == {"accuracy": 5, "clarity": 2}


def test_choose_a_over_b(site: Site, logger: RLHFLogger, browser_context: Any) -> None:
    """The A/B chooser stores a comparison preferring A over B, linked to both."""
    token = logger.feedback_token([IID_A, IID_B], types=["comparative"])
    page = _open(
        site,
        browser_context,
        "ab",
        token=token,
        controls="ab",
        **{"interaction-ids": f"{IID_A} {IID_B}"},
    )
    page.locator("rlhf-feedback button[data-choice=A]").click()
    _saved(page)
    [fb] = _stored(logger, 1)
    assert (
        fb.type.value,
        fb.data["preferred_response_id"],
        list(fb.data["compared_response_ids"]),
    ) == (
        "comparative",
        IID_A,
        [IID_B],
    )
    assert list(fb.target_ids) == [IID_A, IID_B]
    assert [f.id for f in logger.get_feedback_for_interaction(IID_B)] == [fb.id]


def test_double_click_stores_one_record(
    site: Site, logger: RLHFLogger, browser_context: Any
) -> None:
    """A double click on thumbs up stores a single record."""
    token = logger.feedback_token(IID_A)
    page = _open(site, browser_context, "d", token=token, **{"interaction-id": IID_A})
    page.locator("rlhf-feedback button[data-value=thumbs_up]").dblclick()
    _saved(page)
    time.sleep(0.3)
    assert len(_stored(logger, 2, timeout=0.5)) == 1


def test_changed_vote_supersedes(site: Site, logger: RLHFLogger, browser_context: Any) -> None:
    """Up then down: the down vote names the up vote it replaces; stats count only it."""
    token = logger.feedback_token(IID_A, user_id="u-2")
    page = _open(site, browser_context, "v", token=token, **{"interaction-id": IID_A})
    page.locator("rlhf-feedback button[data-value=thumbs_up]").click()
    _saved(page)
    page.locator("rlhf-feedback button[data-value=thumbs_down]").click()
    up, down = _stored(logger, 2)
    assert (up.data["value"], down.data["value"], down.supersedes) == (
        "thumbs_up",
        "thumbs_down",
        up.id,
    )
    stats = logger.get_feedback_stats()
    assert (stats.total_feedback, stats.binary.thumbs_up, stats.binary.thumbs_down) == (1, 0, 1)  # type: ignore[union-attr]


def test_offline_then_online_delivers(site: Site, logger: RLHFLogger, browser_context: Any) -> None:
    """Offline, the vote waits in the queue with a visible notice; back online it is stored."""
    token = logger.feedback_token(IID_A)
    page = _open(site, browser_context, "o", token=token, **{"interaction-id": IID_A})
    browser_context.set_offline(True)
    page.locator("rlhf-feedback button[data-value=thumbs_up]").click()
    page.wait_for_function("document.querySelector('rlhf-feedback').dataset.state === 'queued'")
    assert page.locator("rlhf-feedback .status[data-for=binary]").inner_text() == (
        "Thumbs: Offline: saved on this device, will send when back online."
    )
    assert page.evaluate("localStorage.getItem('rlhf-feedback:queue:/rlhf').length") > 10
    assert _stored(logger, 1, timeout=0.5) == []
    browser_context.set_offline(False)
    _saved(page)
    [fb] = _stored(logger, 1)
    assert (fb.data["value"], fb.interaction_id) == ("thumbs_up", IID_A)
    assert page.evaluate("localStorage.getItem('rlhf-feedback:queue:/rlhf')") == "[]"


def _foreign_site(endpoint: str, token: str) -> Starlette:
    body = page_html(endpoint, [{"token": token, "interaction-id": IID_A}])

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(body)

    return Starlette(routes=[Route("/", page)])


def test_disallowed_origin_is_refused(site: Site, logger: RLHFLogger, browser_context: Any) -> None:
    """A page on another origin cannot submit (its preflight is refused); nothing is stored."""
    token = logger.feedback_token(IID_A)
    failed: list[str] = []
    with running_server(_foreign_site(f"{site.url}/rlhf", token)) as other:
        page = browser_context.new_page()
        page.on("requestfailed", lambda r: failed.append(f"{r.method} {r.url.rsplit('/', 1)[-1]}"))
        page.goto(other + "/")
        page.wait_for_function("customElements.get('rlhf-feedback') !== undefined")
        page.locator("rlhf-feedback button[data-value=thumbs_up]").click()
        page.wait_for_function("document.querySelector('rlhf-feedback').dataset.state === 'queued'")
        assert page.locator("rlhf-feedback").get_attribute("data-state") != "saved"
    assert failed[:1] == ["POST feedback"]
    assert _stored(logger, 1, timeout=0.5) == []


def test_allowed_origin_is_served(logger: RLHFLogger, browser_context: Any) -> None:
    """A page on an origin in allow_origins submits cross-origin and the record is stored."""
    token = logger.feedback_token(IID_A)
    foreign = _ForeignHolder()
    with running_server(foreign.app) as other:
        site = Site(logger, allow_origins=[other])
        with running_server(site.app) as url:
            foreign.body = page_html(f"{url}/rlhf", [{"token": token, "interaction-id": IID_A}])
            page = browser_context.new_page()
            page.goto(other + "/")
            page.wait_for_function("customElements.get('rlhf-feedback') !== undefined")
            page.locator("rlhf-feedback button[data-value=thumbs_up]").click()
            _saved(page)
    [fb] = _stored(logger, 1)
    assert fb.interaction_id == IID_A


class _ForeignHolder:
    def __init__(self) -> None:
        self.body = ""

        async def page(request: Request) -> HTMLResponse:
            return HTMLResponse(self.body)

        self.app = Starlette(routes=[Route("/", page)])
