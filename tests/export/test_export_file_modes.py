"""Export and report output files are owner-only (0600) whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlhf_otel.analytics import get_analytics
from rlhf_otel.export import export_feedback
from rlhf_otel.report import write_report
from tests.feedback_data import generate

FORMATS = ["json", "jsonl", "csv", "parquet", "dpo", "kto", "reward", "sft"]


@pytest.fixture(params=[0o000, 0o022], ids=["umask000", "umask022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_exports_are_owner_only(umask: int, tmp_path: Path) -> None:
    """Every export format writes its file 0600, at umask 000 as at 022."""
    store = generate(seed=3, n_prompts=6).store
    modes = {}
    for fmt in FORMATS:
        out = tmp_path / f"out.{fmt}"
        export_feedback(store, fmt, out=out)
        modes[fmt] = _mode(out)
    assert modes == dict.fromkeys(FORMATS, 0o600)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"out.{f}" for f in FORMATS)


def test_export_over_an_existing_file_is_owner_only(umask: int, tmp_path: Path) -> None:
    """Replacing a world-readable file leaves an owner-only one."""
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    out.chmod(0o666)
    export_feedback(generate(seed=3, n_prompts=2).store, "jsonl", out=out)
    assert _mode(out) == 0o600
    assert out.read_text() != "old\n"


def test_report_is_owner_only(umask: int, tmp_path: Path) -> None:
    """The HTML report file is written 0600."""
    out = tmp_path / "report.html"
    write_report(get_analytics(generate(seed=3, n_prompts=4).store), out)
    assert _mode(out) == 0o600
