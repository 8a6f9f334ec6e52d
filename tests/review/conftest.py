"""Fixtures of the review app tests: a headless Chromium (the system one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.review.support import CHROMIUM_FLAGS


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; Playwright gives it a fresh temporary profile."""
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_FLAGS
        )
        yield b
        b.close()
