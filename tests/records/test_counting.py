"""One counting rule in every reader: an id once, superseded versions out, one vote per user."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import RLHFLogger, create_rlhf_logger
from rlhf_otel.cli import main
from rlhf_otel.export import export_feedback, get_analytics
from rlhf_otel.records import Feedback, FeedbackType
from rlhf_otel.stores import JsonlStore, MemoryStore, Store
from tests.stores.jsonl_support import T0, interaction


@pytest.fixture(params=["memory", "jsonl"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = MemoryStore(max_entries=None) if request.param == "memory" else JsonlStore(tmp_path)
    yield s
    s.close()


@pytest.fixture
def logger(store: Store) -> Iterator[RLHFLogger]:
    lg = create_rlhf_logger(store=store, tracer_provider=TracerProvider())
    yield lg
    lg.close()


def _sql(data_dir: str, query: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    assert main(["sql", "--data-dir", data_dir, "--json", query]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _jsonl_rows(store: Store, fmt: str) -> list[dict[str, object]]:
    out = io.StringIO()
    export_feedback(store, fmt, out=out, include_interactions=False)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_retried_feedback_id_counts_once_in_every_reader(
    logger: RLHFLogger, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's repro: the same feedback id twice and another rater give 2 ratings, 3.0."""
    i = logger.log_interaction("p", "r", model="m")
    logger.log_rating(i, 5, user_id="u1", feedback_id="retried-1")
    logger.log_rating(i, 5, user_id="u1", feedback_id="retried-1")
    logger.log_rating(i, 1, user_id="u2")
    stats = logger.get_feedback_stats()
    assert stats.rating is not None
    assert (stats.total_feedback, stats.rating.count, stats.rating.average) == (2, 2, 3.0)
    a = get_analytics(store).stats
    assert a.rating is not None
    assert (a.total_feedback, a.rating.count, a.rating.average) == (2, 2, 3.0)
    rows = _jsonl_rows(store, "jsonl")
    assert sorted(r["data"]["rating"] for r in rows) == [1, 5]  # type: ignore[index]
    if isinstance(store, JsonlStore):
        got = _sql(store.data_dir, "SELECT count(*) AS n, avg(rating) AS a FROM feedback", capsys)
        assert got == [{"n": 2, "a": 3.0}]
        problems = store.health().read_problems
    else:
        assert isinstance(store, MemoryStore)
        problems = store.read_problems()
    assert problems["duplicate_feedback_id"] == 1


def test_one_user_many_client_keys_counts_one_vote(
    logger: RLHFLogger, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """Twenty thumbs-down by one user on one answer, each with a fresh id, count as one."""
    i = logger.log_interaction("p", "r", model="m")
    for _ in range(20):
        logger.log_binary_feedback(i, "thumbs_down", user_id="mallory")
    logger.log_binary_feedback(i, "thumbs_up", user_id="alice")
    logger.log_text_feedback(i, "bad", user_id="mallory")
    logger.log_text_feedback(i, "worse", user_id="mallory")
    stats = logger.get_feedback_stats()
    assert stats.binary is not None
    assert (stats.binary.thumbs_up, stats.binary.thumbs_down) == (1, 1)
    assert stats.by_type == {"binary": 2, "text": 2}  # comments add up
    a = get_analytics(store).stats
    assert a.binary is not None
    assert (a.binary.thumbs_up, a.binary.thumbs_down, a.by_type) == (1, 1, {"binary": 2, "text": 2})
    rows = _jsonl_rows(store, "jsonl")
    assert sorted((str(r["type"]), str(r["user_id"])) for r in rows) == [
        ("binary", "alice"), ("binary", "mallory"), ("text", "mallory"), ("text", "mallory"),
    ]  # fmt: skip
    for fmt in ("kto", "reward"):  # training sets read the two thumbs (text: corrections)
        assert export_feedback(store, fmt, out=io.StringIO()).feedback == 2
    if isinstance(store, JsonlStore):
        got = _sql(store.data_dir, "SELECT user_id, count(*) AS n FROM feedback "
                   "WHERE type = 'binary' GROUP BY 1 ORDER BY 1", capsys)  # fmt: skip
        assert got == [{"user_id": "alice", "n": 1}, {"user_id": "mallory", "n": 1}]


def _text(
    fid: str, second: int, data: dict[str, object], supersedes: str | None = None
) -> Feedback:
    return Feedback(
        id=fid, interaction_id="i1", type=FeedbackType.TEXT, data=data,
        timestamp=T0 + timedelta(seconds=second), user_id="rev", target_ids=("i1",),
        supersedes=supersedes, source="review",
    )  # fmt: skip


def test_superseded_correction_leaves_the_sentiment_distribution(store: Store) -> None:
    """Two correction-only versions and one negative comment give unspecified 1, not 2."""
    store.write(
        [interaction(1)],
        [
            _text("c1", 10, {"comment": None, "sentiment": None, "correction": "better"}),
            _text("c2", 11, {"comment": None, "sentiment": None, "correction": "best"}, "c1"),
            _text("n1", 12, {"comment": "wrong", "sentiment": "negative"}),
        ],
    )
    end = T0 + timedelta(days=1)
    from rlhf_otel.stores import feedback_stats

    stats = feedback_stats(store, None, end)
    assert stats.text is not None
    assert stats.text.sentiment_distribution == {
        "positive": 0, "negative": 1, "neutral": 0, "unspecified": 1,
    }  # fmt: skip
    assert (stats.text.count, stats.by_type["text"], stats.text.average_length) == (2, 2, 5.0)


def test_text_figures_are_the_same_in_stats_and_analytics(store: Store) -> None:
    """text.count equals by_type.text in both; an all-corrections store still has text."""
    store.write(
        [interaction(1)],
        [
            _text("c1", 10, {"comment": None, "sentiment": None, "correction": "better"}),
            _text("c2", 20, {"comment": None, "sentiment": None, "correction": "best"}),
        ],
    )
    from rlhf_otel.analytics import engine_stats
    from rlhf_otel.records import compute_stats
    from rlhf_otel.records._model import FeedbackFilter

    end = T0 + timedelta(days=1)
    python = compute_stats(store, None, end)
    engine = engine_stats(store, None, end)
    analytics = get_analytics(store, FeedbackFilter(end_time=end)).stats
    assert python.text is not None
    assert python.text.count == python.by_type["text"] == 2
    assert python.text.sentiment_distribution["unspecified"] == 2
    assert python.text.average_length == 0.0
    assert python.text == engine.text == analytics.text
