"""The HTML report renders in headless Chromium: charts present, no script errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from rlhf_otel.analytics import get_analytics
from rlhf_otel.records import FeedbackFilter
from rlhf_otel.report import write_report
from rlhf_otel.report._html import CHARTS, render_report
from rlhf_otel.stores import MemoryStore
from tests.feedback_data import T0, generate, interaction, rating

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "tests" / "artifacts"

# CI installs Chromium (scripts/setup.sh); there a missing browser is a failure, not a skip.
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="needs Debian's chromium package (apt-get install -y chromium)",
)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def report_html() -> str:
    data = generate(seed=13, n_prompts=40)
    data.store.write(
        [interaction("evil", "q", "a", T0, model='<script>alert("x")</script>')],
        [rating("evil-r", "evil", 1, T0, comment="</svg><img src=x onerror=alert(1)>")],
    )
    return render_report(get_analytics(data.store, FeedbackFilter(end_time=T0.replace(year=2027))))


def test_report_is_self_contained_and_escaped(report_html: str) -> None:
    """No network references, every chart present, hostile names escaped."""
    assert re.findall(r'(?:src|href)="(?!#)[^"]*"', report_html) == []
    assert "http://" not in report_html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    for name in CHARTS:
        assert f'<figure class="chart" id="{name}"' in report_html
    assert '<script>alert("x")</script>' not in report_html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in report_html


@needs_chromium
def test_report_renders_in_headless_chromium(report_html: str, tmp_path: Path) -> None:
    """Chromium loads the report: scripts run without errors and every chart has marks."""
    page = tmp_path / "report.html"
    page.write_text(report_html, encoding="utf-8")
    done = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert 'data-charts-rendered="6"' in dom
    assert re.search(r"<html[^>]*data-report-errors", dom) is None
    assert "Uncaught" not in done.stderr
    for name in CHARTS:
        svg = re.search(rf'<svg[^>]*data-chart="{name}".*?</svg>', dom, re.S)
        assert svg is not None, name
        assert re.search(r"<(rect|circle|path)[^>]*data-tip=|<path class=\"line\"", svg.group(0))
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2600", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000


@needs_chromium
def test_script_errors_would_be_caught(report_html: str, tmp_path: Path) -> None:
    """The error guard works: a broken script shows up in the dumped DOM."""
    page = tmp_path / "broken.html"
    page.write_text(
        report_html.replace("</body>", "<script>notDefinedAnywhere()</script></body>"),
        encoding="utf-8",
    )
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert re.search(r'<html[^>]*data-report-errors="[^"]*notDefinedAnywhere', dom)


def test_empty_store_report_says_no_data(tmp_path: Path) -> None:
    """With no records every chart says there is no data, and the file is still written."""
    path = tmp_path / "empty.html"
    write_report(get_analytics(MemoryStore()), path)
    html = path.read_text(encoding="utf-8")
    assert html.count("No data in this range") == 6 + 3
