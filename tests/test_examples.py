"""The examples run as they are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def test_quickstart_runs() -> None:
    """examples/quickstart.py prints the feedback rate of its one rated interaction."""
    out = subprocess.run(
        [sys.executable, "examples/quickstart.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=ENV,
    )
    assert out.stdout.strip() == "Feedback rate: 1.0"


def test_demo_runs_on_memory(tmp_path: Path) -> None:
    """rlhf-otel demo logs every feedback type and prints the stats."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rlhf_otel.cli",
            "demo",
            "--backend",
            "memory",
            "--conversations",
            "12",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=ENV,
    )
    assert "interactions        24" in out.stdout
    assert (
        "by type             binary=18, comparative=9, multi_dimensional=3, rating=18, text=3"
        in out.stdout
    )
    assert "dropped 0" in out.stdout
