"""axe-core checks and optional screenshots of a page at desktop and phone size.

axe-core comes from npm (``tests/a11y/package.json``, installed by ``scripts/setup.sh`` with
``npm ci``). Screenshots are off unless ``RLHF_OTEL_SCREENSHOTS=1``; they go to
``build/screenshots/`` (ignored by git), one PNG per state and size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

from playwright.sync_api import Page

ROOT: Final = Path(__file__).resolve().parents[2]
AXE: Final = ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS: Final = ROOT / "build" / "screenshots"
SIZES: Final = {"desktop": (1280, 800), "phone": (390, 844)}
SCREENSHOTS_ENV: Final = "RLHF_OTEL_SCREENSHOTS"
# Moderate findings we accept, each with its reason in docs/review.md ("Accessibility");
# none at present.
JUSTIFIED: Final[frozenset[str]] = frozenset()


def axe_source() -> str:
    """axe.min.js (a clear error when setup has not installed it)."""
    if not AXE.exists():
        raise RuntimeError(f"{AXE} is missing: run ./scripts/setup.sh (npm ci in tests/a11y)")
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (WCAG 2.x A and AA rules and best
    practices). Injected through the driver, so the page's own CSP stays as served."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    result: dict[str, Any] = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
    ]


def check_page(page: Page, name: str) -> list[dict[str, Any]]:
    """axe at desktop and phone size: the serious or critical violations (want none),
    moderate ones not justified, and a page wider than the screen (sideways scrolling);
    takes a screenshot at each size when asked for."""
    original = page.viewport_size
    bad: list[dict[str, Any]] = []
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        for v in axe_violations(page):
            if v["impact"] in ("serious", "critical") or (
                v["impact"] == "moderate" and v["id"] not in JUSTIFIED
            ):
                bad.append({**v, "size": size})
        wide = page.evaluate("() => document.documentElement.scrollWidth")
        if wide > width:
            bad.append({"id": "page-wider-than-screen", "width": wide, "size": size})
        if os.environ.get(SCREENSHOTS_ENV) == "1":
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
    if original is not None:
        page.set_viewport_size(original)
    return bad
