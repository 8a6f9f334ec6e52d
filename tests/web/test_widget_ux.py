"""The widget as a person uses it (headless Chromium, real feedback service): a vote queued
offline goes out on the next page load, status beside each control, SVG icons, tie and
both-bad, dark-mode fields, 44 px touch targets, and axe-core at desktop and phone size."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from rlhf_otel import RLHFLogger
from rlhf_otel.web import running_server
from tests.a11y.checks import check_page
from tests.web.conftest import CHROMIUM_ARGS, Site, page_html
from tests.web.test_examples_wsgi import _example
from tests.web.test_widget_browser import IID_A, IID_B, _open, _saved, _stored


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_vote_queued_offline_is_sent_on_the_next_page_load(
    site: Site, logger: RLHFLogger, browser_context: Any
) -> None:
    """A vote made offline, the page closed while still offline: the next visit sends it
    without a new click, and it is stored once."""
    token = logger.feedback_token(IID_A)
    page = _open(site, browser_context, "n", token=token, **{"interaction-id": IID_A})
    browser_context.set_offline(True)
    page.locator("rlhf-feedback button[data-value=thumbs_up]").click()
    page.wait_for_function(
        "() => document.querySelector('rlhf-feedback').dataset.state === 'queued'"
    )
    # Chromium's offline emulation does not always hold back the beacon, or the keepalive
    # retry, a page sends while it unloads (CI runs saw each arrive), where a device really
    # offline loses them: both fail here as they would there, so only the next visit can
    # deliver the vote.
    page.evaluate(
        "() => { navigator.sendBeacon = () => false;"
        " window.fetch = () => Promise.reject(new TypeError('offline')); }"
    )
    page.close()
    assert logger.query_feedback() == []
    browser_context.set_offline(False)
    again = browser_context.new_page()
    with again.expect_request(lambda r: r.url.endswith("/rlhf/feedback")) as sent:
        again.goto(f"{site.url}/page/n")
    assert sent.value.method == "POST"
    _saved(again)
    [fb] = _stored(logger, 1)
    assert (fb.data["value"], fb.interaction_id) == ("thumbs_up", IID_A)
    assert again.evaluate("() => localStorage.getItem('rlhf-feedback:queue:/rlhf')") == "[]"
    assert again.locator("rlhf-feedback button[aria-pressed=true]").count() == 0  # no new vote


def test_vote_left_queued_goes_out_by_beacon_when_the_page_closes_and_is_stored_once(
    site: Site, logger: RLHFLogger, browser_context: Any
) -> None:
    """A vote still queued when the page closes (its POST failed, the network is up) is
    sent by beacon; the next visit resends it from the queue and it stays stored once."""
    token = logger.feedback_token(IID_A)
    page = _open(site, browser_context, "b", token=token, **{"interaction-id": IID_A})
    page.route("**/rlhf/feedback", lambda route: route.abort())  # the POST fails; batch does not
    page.locator("rlhf-feedback button[data-value=thumbs_down]").click()
    page.wait_for_function(
        "() => document.querySelector('rlhf-feedback').dataset.state === 'queued'"
    )
    assert logger.query_feedback() == []
    page.close(run_before_unload=True)
    [fb] = _stored(logger, 1)
    assert (fb.data["value"], fb.interaction_id) == ("thumbs_down", IID_A)
    again = browser_context.new_page()
    with again.expect_request(lambda r: r.url.endswith("/rlhf/feedback")):
        again.goto(f"{site.url}/page/b")
    _saved(again)
    assert again.evaluate("() => localStorage.getItem('rlhf-feedback:queue:/rlhf')") == "[]"
    assert [f.id for f in logger.query_feedback()] == [fb.id]


def test_each_vote_has_its_own_status_and_svg_icons(
    site: Site, logger: RLHFLogger, browser_context: Any
) -> None:
    """Thumbs and stars each say their own status beside the control; the thumbs are SVG
    icons with no emoji text."""
    token = logger.feedback_token(IID_A)
    page = _open(
        site, browser_context, "s", token=token, controls="thumbs stars",
        **{"interaction-id": IID_A},
    )  # fmt: skip
    thumbs = page.locator("rlhf-feedback button[data-value=thumbs_down]")
    assert thumbs.locator("svg").count() == 1
    assert thumbs.inner_text() == ""
    thumbs.click()
    page.wait_for_function(
        "() => document.querySelector('rlhf-feedback').shadowRoot"
        ".querySelector('.status[data-for=binary]').dataset.state === 'saved'"
    )
    assert page.locator("rlhf-feedback .status[data-for=rating]").inner_text() == ""
    page.locator("rlhf-feedback .stars button[data-value='3']").click()
    page.wait_for_function(
        "() => document.querySelector('rlhf-feedback').shadowRoot"
        ".querySelector('.status[data-for=rating]').dataset.state === 'saved'"
    )
    assert page.locator("rlhf-feedback .status[data-for=binary]").inner_text() == (
        "Thumbs: Saved. Thank you!"
    )
    assert page.locator("rlhf-feedback .status[data-for=rating]").inner_text() == (
        "Rating: Saved. Thank you!"
    )
    assert sorted(fb.type.value for fb in _stored(logger, 2)) == ["binary", "rating"]


@pytest.mark.parametrize("choice", ["tie", "both_bad"])
def test_ab_chooser_offers_tie_and_both_bad(
    site: Site, logger: RLHFLogger, browser_context: Any, choice: str
) -> None:
    """The A/B chooser has tie and both-bad; the server stores them as comparative feedback
    with that outcome, A named first."""
    token = logger.feedback_token([IID_A, IID_B], types=["comparative"])
    page = _open(
        site, browser_context, "ab", token=token, controls="ab",
        **{"interaction-ids": f"{IID_A} {IID_B}"},
    )  # fmt: skip
    page.locator(f"rlhf-feedback button[data-choice={choice}]").click()
    _saved(page)
    [fb] = _stored(logger, 1)
    assert (fb.type.value, fb.data["outcome"], fb.data["preferred_response_id"]) == (
        "comparative", choice, IID_A,
    )  # fmt: skip
    assert list(fb.data["compared_response_ids"]) == [IID_B]


def _widget_page(site: Site, logger: RLHFLogger) -> str:
    token = logger.feedback_token(IID_A)
    site.pages["all"] = (
        page_html(
            "/rlhf",
            [
                {
                    "token": token,
                    "interaction-id": IID_A,
                    "controls": "thumbs stars dimensions comment",
                }
            ],
        )
        .replace("<body>", "<body><main><h1>Chat</h1><p>An answer.</p>")
        .replace("</body>", "</main></body>")
    )
    return f"{site.url}/page/all"


def test_touch_targets_and_dark_fields(site: Site, logger: RLHFLogger, browser: Browser) -> None:
    """On a touch phone every control is at least 44 px; in dark mode the text box is not
    white."""
    url = _widget_page(site, logger)
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    page = phone.new_page()
    page.goto(url)
    page.wait_for_selector("rlhf-feedback button[data-value=thumbs_up]")
    assert page.evaluate("() => matchMedia('(pointer: coarse)').matches")
    sizes = page.locator("rlhf-feedback button, rlhf-feedback select").evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })"
    )
    assert len(sizes) == 2 + 5 + 2 + 2  # thumbs, stars, two dimensions + send, send comment
    assert [s for s in sizes if min(s) < 44] == []
    phone.close()
    dark = browser.new_context(color_scheme="dark")
    page = dark.new_page()
    page.goto(url)
    page.wait_for_selector("rlhf-feedback textarea")
    background = page.locator("rlhf-feedback textarea").evaluate(
        "e => getComputedStyle(e).backgroundColor"
    )
    assert background != "rgb(255, 255, 255)"
    dark.close()


def test_widget_example_has_no_serious_axe_findings(logger: RLHFLogger, browser: Browser) -> None:
    """axe-core on the FastAPI example page with an answer and its widget, at 1280x800 and
    390x844: no serious or critical violation, no unjustified moderate one."""
    app = _example("fastapi_chat").create_app(logger)
    with running_server(app) as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.fill("#message", "What is OpenTelemetry?")
        page.click("form button")
        page.wait_for_selector("rlhf-feedback button[data-value=thumbs_up]")
        assert check_page(page, "widget-example") == []
