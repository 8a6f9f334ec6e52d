"""Ratings on different scales are never averaged together (report and ``stats``); round
ticks; "best model" only when the intervals separate; the report in dark mode and axe-core."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from playwright.sync_api import sync_playwright

from rlhf_otel import RLHFLogger, create_rlhf_logger
from rlhf_otel.report import rating_scales
from rlhf_otel.report._svg import Bar, bar_chart
from tests.a11y.checks import check_page

ROOT = Path(__file__).resolve().parents[2]
# (min, max, ratings): the four scales of the issue; raw values average 16.2 together
SCALES = [(1, 5, [4, 5, 3]), (1, 7, [6, 7]), (1, 10, [9, 8]), (0, 100, [80, 90, 70])]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rlhf_otel.cli", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture
def logger(tmp_path: Path) -> Iterator[RLHFLogger]:
    """A logger on a JSONL store under tmp_path."""
    provider = TracerProvider()
    lg = create_rlhf_logger(
        backend="local", data_dir=str(tmp_path / "data"), tracer_provider=provider
    )
    yield lg
    lg.close()
    provider.shutdown()


def _seed_scales(logger: RLHFLogger) -> None:
    for lo, hi, values in SCALES:
        for n, v in enumerate(values):
            iid = logger.log_interaction(f"q {hi} {n}", "a", model="m-a" if n % 2 else "m-b")
            logger.log_rating(iid, v, min_rating=lo, max_rating=hi)
    logger.flush()


def test_stats_summarise_each_scale_and_combine_only_normalised(
    logger: RLHFLogger, tmp_path: Path
) -> None:
    """`stats` prints one row per scale and a combined figure labelled normalised 0-1; no
    row averages raw ratings of different scales; --json carries rating_scales."""
    _seed_scales(logger)
    data = str(tmp_path / "data")
    out = _cli("stats", "--data-dir", data)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith(("ratings", "  distr"))]
    assert rows == [
        "ratings (0-100 scale)       3, average 80.00, median 80",
        "  distribution              70: 1, 80: 1, 90: 1",
        "ratings (1-5 scale)         3, average 4.00, median 4",
        "  distribution              1: 0, 2: 0, 3: 1, 4: 1, 5: 1",
        "ratings (1-7 scale)         2, average 6.50, median 6.5",
        "  distribution              1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 1, 7: 1",
        "ratings (1-10 scale)        2, average 8.50, median 8.5",
        "  distribution              1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0, 8: 1, 9: 1, 10: 0",
        "ratings, all scales         average 0.82 (normalised 0-1)",
    ]
    assert "16.2" not in out.stdout
    doc = json.loads(_cli("stats", "--data-dir", data, "--json").stdout)
    assert [(s["scale"], s["count"], s["average"]) for s in doc["rating_scales"]] == [
        ("0-100", 3, 80.0), ("1-5", 3, 4.0), ("1-7", 2, 6.5), ("1-10", 2, 8.5),
    ]  # fmt: skip


def test_report_cards_per_scale_no_clear_winner_and_round_ticks(
    logger: RLHFLogger, tmp_path: Path
) -> None:
    """The report shows an average per scale and a combined normalised one, names no best
    model when the intervals overlap, and its y axes tick at round numbers."""
    _seed_scales(logger)
    a = logger.log_interaction("pair", "x", model="m-a")
    b = logger.log_interaction("pair", "y", model="m-b")
    for n in range(4):  # 2:2, intervals overlap
        win, lose = (a, b) if n % 2 else (b, a)
        logger.log_comparative_feedback(win, [lose], user_id=f"u{n}")
    logger.flush()
    assert [s.label for s in rating_scales(logger.store)] == ["0-100", "1-5", "1-7", "1-10"]
    page = tmp_path / "report.html"
    done = _cli("report", "--data-dir", str(tmp_path / "data"), "--out", str(page))
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    cards = dict(re.findall(r'data-card="([^"]+)">[^<]*<b>([^<]*)</b>', html))
    assert cards["Average rating (normalised 0-1)"] == "0.82"
    assert cards["rating 0-100"] == "80.00"
    assert cards["rating 1-5"] == "4.00"
    assert cards["Best model"] == "no clear winner"
    assert "Average rating per scale (normalised 0-1 by each scale)" in html
    svg = bar_chart("t", "t", [Bar("a", (62.0,), ""), Bar("b", (188.0,), "")], ["n"])
    ticks = re.findall(r'text-anchor="end">([^<]+)</text>', svg)
    assert ticks == ["0", "50", "100", "150", "200"]
    small = bar_chart("s", "s", [Bar("a", (7.0,), "")], ["n"])
    assert re.findall(r'text-anchor="end">([^<]+)</text>', small) == ["0", "2", "4", "6", "8"]


def test_report_names_a_best_model_only_when_intervals_separate(
    logger: RLHFLogger, tmp_path: Path
) -> None:
    """With many one-sided votes the intervals separate and the winner is named."""
    a = logger.log_interaction("pair", "x", model="m-a")
    b = logger.log_interaction("pair", "y", model="m-b")
    for n in range(40):
        logger.log_comparative_feedback(a, [b], user_id=f"u{n}")
    logger.flush()
    page = tmp_path / "report.html"
    assert _cli("report", "--data-dir", str(tmp_path / "data"), "--out", str(page)).returncode == 0
    cards = dict(re.findall(r'data-card="([^"]+)">[^<]*<b>([^<]*)</b>', page.read_text()))
    assert cards["Best model"] == "m-a"


def test_report_dark_mode_landmarks_and_axe(logger: RLHFLogger, tmp_path: Path) -> None:
    """The report has banner and main landmarks (summary cards inside main), follows dark
    mode, and axe-core finds nothing serious at desktop and phone size."""
    _seed_scales(logger)
    page_file = tmp_path / "report.html"
    assert (
        _cli("report", "--data-dir", str(tmp_path / "data"), "--out", str(page_file)).returncode
        == 0
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            light = browser.new_page()
            light.goto(page_file.as_uri())
            assert light.locator("header").count() == 1
            assert light.locator("main > section.cards[aria-label=Summary]").count() == 1
            assert check_page(light, "report") == []
            dark = browser.new_context(color_scheme="dark").new_page()
            dark.goto(page_file.as_uri())
            colours = dark.evaluate(
                "() => [getComputedStyle(document.body).backgroundColor,"
                " getComputedStyle(document.querySelector('.card')).backgroundColor]"
            )
            assert colours == ["rgb(20, 23, 28)", "rgb(28, 33, 41)"]
        finally:
            browser.close()
