"""Naive datetimes in every time-range API mean local time, identically on every store."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import Feedback, FeedbackType, Interaction, RLHFLogger, create_rlhf_logger
from rlhf_otel.cli._commands import OneLineErrorParser, register
from rlhf_otel.export import export_feedback
from rlhf_otel.stores import JsonlStore, MemoryStore, Store

# Three records an hour apart around 12:00 UTC; the zone is five and a half hours ahead.
HOURS = (11, 12, 13)


@pytest.fixture(autouse=True)
def kolkata(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _records() -> tuple[list[Interaction], list[Feedback]]:
    its = [
        Interaction(
            id=f"i{h}",
            prompt="p",
            response="r",
            timestamp=datetime(2026, 1, 10, h, tzinfo=timezone.utc),
            model="m",
        )
        for h in HOURS
    ]
    fbs = [
        Feedback(
            id=f"f{h}",
            interaction_id=f"i{h}",
            type=FeedbackType.RATING,
            data={"rating": 4, "min_rating": 1, "max_rating": 5, "comment": None},
            timestamp=datetime(2026, 1, 10, h, 0, 1, tzinfo=timezone.utc),
            target_ids=(f"i{h}",),
        )
        for h in HOURS
    ]
    return its, fbs


@pytest.fixture(params=["memory", "local"])
def filled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[RLHFLogger, Store]]:
    store: Store = MemoryStore() if request.param == "memory" else JsonlStore(tmp_path / "data")
    store.write(*_records())
    logger = create_rlhf_logger(store=store, tracer_provider=TracerProvider())
    yield logger, store
    logger.close()


# 17:15..18:15 in Kolkata is 11:45..12:45 UTC: only the 12:00 records.
START, END = datetime(2026, 1, 10, 17, 15), datetime(2026, 1, 10, 18, 15)


def test_logger_reads_take_naive_times_as_local(filled: tuple[RLHFLogger, Store]) -> None:
    """get_feedback_stats, get_interactions, get_feedback_in_range and query_feedback agree."""
    logger, _ = filled
    stats = logger.get_feedback_stats(START, END)
    assert (stats.total_interactions, stats.total_feedback) == (1, 1)
    assert [it.id for it in logger.get_interactions(START, END)] == ["i12"]
    assert [fb.id for fb in logger.get_feedback_in_range(START, END)] == ["f12"]
    assert [fb.id for fb in logger.query_feedback(start_time=START, end_time=END)] == ["f12"]
    assert [fb.id for fb in logger.query_feedback(end_time=START)] == ["f11"]


def test_naive_and_aware_times_give_the_same_answer(filled: tuple[RLHFLogger, Store]) -> None:
    """A naive time and the same instant written with its offset select the same records."""
    logger, _ = filled
    aware = (START.astimezone(), END.astimezone())
    assert [it.id for it in logger.get_interactions(*aware)] == ["i12"]
    mixed = logger.get_feedback_stats(START, aware[1])
    assert (mixed.total_interactions, mixed.total_feedback) == (1, 1)


def test_export_takes_naive_times_as_local(filled: tuple[RLHFLogger, Store]) -> None:
    """export_feedback start_time / end_time, naive, mean local time."""
    _, store = filled
    text = export_feedback(store, "jsonl", start_time=START, end_time=END)
    assert isinstance(text, str)
    assert [json.loads(line)["id"] for line in text.splitlines()] == ["i12", "f12"]


def test_purge_takes_naive_times_as_local(filled: tuple[RLHFLogger, Store]) -> None:
    """purge(before=naive) removes what came before that local time."""
    logger, _ = filled
    assert logger.purge(before=START) == 2
    assert [it.id for it in logger.get_interactions()] == ["i12", "i13"]


def test_cli_times_without_offset_are_local(
    filled: tuple[RLHFLogger, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    """query --since/--until without an offset are local times too."""
    _, store = filled
    parser = OneLineErrorParser(prog="rlhf-otel")
    register(parser.add_subparsers(dest="command", required=True), store_opener=lambda a: store)
    argv = ["query", "--since", "2026-01-10T17:15", "--until", "2026-01-10T18:15", "--json"]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    assert [json.loads(x)["id"] for x in capsys.readouterr().out.splitlines()] == ["f12"]
