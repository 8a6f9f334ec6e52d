"""Fixtures of the CLI tests: stores on disk and a way to run the real entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rlhf_otel.stores import JsonlStore
from tests.stores.jsonl_support import feedback, interaction

ROOT = Path(__file__).resolve().parents[2]


def cli(*argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``rlhf-otel ARGV`` through its real entry point."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-m", "rlhf_otel.cli", *argv],
        text=True, cwd=ROOT, check=False, timeout=120, **kwargs,
    )  # fmt: skip


def fill(data_dir: Path, n: int) -> Path:
    """A JSONL store with ``n`` interactions and one feedback on each."""
    store = JsonlStore(data_dir)
    step = 5000
    for start in range(0, n, step):
        its = [interaction(i) for i in range(start, min(start + step, n))]
        store.write(its, [feedback(i, it.id) for i, it in enumerate(its, start)])
    store.close()
    return data_dir


@pytest.fixture(scope="session")
def small_store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JSONL store of 40 interactions and 40 feedback."""
    return fill(tmp_path_factory.mktemp("small") / "data", 40)


@pytest.fixture(scope="session")
def big_store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JSONL store of 12,000 interactions and 12,000 feedback (beyond one progress step)."""
    return fill(tmp_path_factory.mktemp("big") / "data", 12_000)
