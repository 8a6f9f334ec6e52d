"""Feedback-aware retention: rated interactions and feedback outlive unrated interactions."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from rlhf_otel import ConfigurationError
from rlhf_otel.stores import JsonlStore
from tests.feedback_data import T0, compare, interaction, rating, thumbs

DAY = 86400.0


def _segments(data: Path, kind: str) -> set[Path]:
    return {
        p for p in data.iterdir() if p.name.startswith(f"{kind}-") and p.name.endswith(".jsonl")
    }


def _age(paths: set[Path], days: float) -> None:
    t = time.time() - days * DAY
    for p in paths:
        os.utime(p, (t, t))


def _ids(data: Path) -> tuple[list[str], list[str]]:
    with JsonlStore(data, fsync="none") as store:
        return (
            sorted(it.id for it in store.scan_interactions()),
            sorted(fb.id for fb in store.scan_feedback()),
        )


def test_rated_interactions_and_feedback_keep_their_own_period(tmp_path: Path) -> None:
    """Unrated old interactions go at 1 day; rated ones and feedback stay until 30 days."""
    data = tmp_path / "data"
    with JsonlStore(data, fsync="none") as store:
        store.write([interaction(f"i{k}", "p", "r", T0, model="m") for k in range(1, 5)], [])
    seg_a = _segments(data, "interactions")
    with JsonlStore(data, fsync="none") as store:
        store.write([interaction(f"j{k}", "p", "r", T0, model="m") for k in range(1, 3)], [])
    seg_b = _segments(data, "interactions") - seg_a
    with JsonlStore(data, fsync="none") as store:
        store.write(
            [interaction("k1", "p", "r", T0, model="m")],
            [rating("f1", "i1", 4, T0), compare("f2", "i2", ["j1"], T0, 0.8)],
        )
    seg_c = _segments(data, "interactions") - seg_a - seg_b
    seg_f = _segments(data, "feedback")
    assert (len(seg_a), len(seg_b), len(seg_c), len(seg_f)) == (1, 1, 1, 1)
    _age(seg_a, 10)
    _age(seg_b, 40)
    _age(seg_f, 10)
    a_mtime = next(iter(seg_a)).stat().st_mtime

    def retain() -> int:
        with JsonlStore(
            data, fsync="none", retention_max_age=timedelta(days=1),
            retention_rated_max_age=timedelta(days=30),
        ) as store:  # fmt: skip
            return store.apply_retention()

    retain()
    assert _ids(data) == (["i1", "i2", "k1"], ["f1", "f2"])
    assert not any(p.exists() for p in seg_b)
    (a,) = seg_a
    assert a.stat().st_mtime == pytest.approx(a_mtime, abs=1e-3)
    assert a.read_text().count("\n") == 2
    retain()
    assert _ids(data) == (["i1", "i2", "k1"], ["f1", "f2"])
    assert a.stat().st_mtime == pytest.approx(a_mtime, abs=1e-3)

    _age(seg_f, 31)
    retain()
    assert _ids(data) == (["i1", "i2", "k1"], [])
    _age(seg_a, 31)
    retain()
    assert _ids(data) == (["k1"], [])
    assert not a.exists()


def test_feedback_arriving_later_saves_an_interaction(tmp_path: Path) -> None:
    """Rated-ness is read from every feedback segment, including ones written after."""
    data = tmp_path / "data"
    with JsonlStore(data, fsync="none") as store:
        store.write([interaction(f"i{k}", "p", "r", T0) for k in range(1, 4)], [])
    _age(_segments(data, "interactions"), 5)
    with JsonlStore(data, fsync="none") as store:
        store.write([], [thumbs("f1", "i3", True, T0)])
    with JsonlStore(
        data, fsync="none", retention_max_age=timedelta(days=2),
        retention_rated_max_age=timedelta(days=90),
    ) as store:  # fmt: skip
        store.apply_retention()
        assert [it.id for it in store.scan_interactions()] == ["i3"]
        assert store.health().retention_deleted_records == 2


def test_without_a_rated_period_age_deletes_everything(tmp_path: Path) -> None:
    """retention_max_age alone still deletes rated interactions with the rest."""
    data = tmp_path / "data"
    with JsonlStore(data, fsync="none") as store:
        store.write([interaction("i1", "p", "r", T0)], [thumbs("f1", "i1", True, T0)])
    _age(_segments(data, "interactions") | _segments(data, "feedback"), 5)
    with JsonlStore(data, fsync="none", retention_max_age=timedelta(days=2)) as store:
        store.apply_retention()  # the background sweep at open may have done it already
        assert store.health().retention_deleted_segments == 2
    assert _ids(data) == ([], [])


def test_rated_period_settings_are_checked(tmp_path: Path) -> None:
    """The rated period needs retention_max_age and may not be shorter than it."""
    with pytest.raises(ConfigurationError, match="retention_rated_max_age must be a datetime"):
        JsonlStore(tmp_path, retention_rated_max_age=timedelta(days=3))
    with pytest.raises(ConfigurationError, match="at least as long as retention_max_age"):
        JsonlStore(
            tmp_path, retention_max_age=timedelta(days=3), retention_rated_max_age=timedelta(days=1)
        )
