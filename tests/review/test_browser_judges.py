"""The review app's progress view shows LLM judges against people (headless Chromium)."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from playwright.sync_api import Browser

from rlhf_otel.records import Feedback, FeedbackType, utc_now
from tests.review.support import open_logger, seed_singles, serving

QUEUE = {"name": "q", "selection": {"thumbs_down": True}, "rubric": {"types": ["binary"]}}


def test_progress_view_lists_judge_agreement(browser: Browser, tmp_path: Path) -> None:
    """With a judge's verdicts in the store, the judges table shows its row and agreement."""
    logger = open_logger(tmp_path / "data", TracerProvider())
    ids = seed_singles(logger, n_down=6, n_up=0)
    verdicts = [
        Feedback(id=f"judge-{n}", interaction_id=iid, type=FeedbackType.BINARY,
                 data={"value": "thumbs_down"}, timestamp=utc_now(), user_id="helpful@1",
                 source="model", metadata={"confidence": 0.9})
        for n, iid in enumerate(ids)
    ]  # fmt: skip
    logger.store.write([], verdicts)
    with serving(logger, QUEUE) as (_, url):
        page = browser.new_context().new_page()
        page.goto(url)
        page.wait_for_selector("#reviewer:focus")
        page.keyboard.type("alice")
        page.keyboard.press("Enter")
        page.wait_for_selector("#review:not([hidden])")
        page.wait_for_function(
            "() => document.querySelectorAll('#judges tbody tr').length === 1", timeout=15_000
        )
        cells = page.eval_on_selector_all(
            "#judges tbody td", "cells => cells.map(c => c.textContent)"
        )
    logger.close()
    assert cells[:4] == ["helpful@1", "binary", "6", "100.0%"]
