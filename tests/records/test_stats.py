"""Statistics with honest definitions, checked against hand-computed values."""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest

from rlhf_otel import BinaryFeedback, RLHFLogger
from rlhf_otel.records import utc_now


def test_guide_examples(logger: RLHFLogger) -> None:
    """The guide's test figures: counts, thumbs ratio, average, true median, distribution."""
    a = logger.log_interaction("q1", "a1")
    b = logger.log_interaction("q2", "a2")
    for v in (BinaryFeedback.THUMBS_UP, BinaryFeedback.THUMBS_UP, BinaryFeedback.THUMBS_DOWN):
        logger.log_binary_feedback(a, v)
    for r in (5, 4, 5):
        logger.log_rating(b, r)
    logger.log_text_feedback(a, "good", "positive")
    logger.log_text_feedback(a, "bad", "negative")
    stats = logger.get_feedback_stats()
    assert (stats.total_interactions, stats.total_feedback) == (2, 8)
    assert stats.by_type == {"binary": 3, "rating": 3, "text": 2}
    assert stats.binary is not None
    assert (stats.binary.thumbs_up, stats.binary.thumbs_down) == (2, 1)
    assert stats.binary.ratio == pytest.approx(2 / 3)
    assert stats.rating is not None
    assert stats.rating.average == pytest.approx(14 / 3)
    assert stats.rating.median == 5
    assert dict(stats.rating.distribution) == {1: 0, 2: 0, 3: 0, 4: 1, 5: 2}
    assert stats.text is not None
    assert stats.text.sentiment_distribution == {
        "positive": 1,
        "negative": 1,
        "neutral": 0,
        "unspecified": 0,
    }
    assert stats.multi_dimensional is None
    assert stats.comparative is None


def test_feedback_rate_is_a_share_of_interactions(logger: RLHFLogger) -> None:
    """feedback_rate counts interactions that got feedback, not feedback per interaction."""
    ids = [logger.log_interaction("q", str(n)) for n in range(4)]
    for _ in range(7):
        logger.log_binary_feedback(ids[0], True)
    logger.log_rating(ids[1], 3)
    stats = logger.get_feedback_stats()
    assert stats.feedback_rate == 0.5
    assert stats.interactions_with_feedback == 2


def test_even_median_and_normalised_average_across_scales(logger: RLHFLogger) -> None:
    """The median of an even count is the mean of the middle two; scales are normalised."""
    iid = logger.log_interaction("q", "a")
    logger.log_rating(iid, 4, max_rating=5)  # 0.75
    logger.log_rating(iid, 4, max_rating=10)  # 3/9
    logger.log_rating(iid, 2, max_rating=5)  # 0.25
    logger.log_rating(iid, 10, max_rating=10)  # 1.0
    stats = logger.get_feedback_stats()
    assert stats.rating is not None
    assert stats.rating.median == 4
    assert stats.rating.average == 5
    expected = [0.75, 3 / 9, 0.25, 1.0]
    assert stats.rating.average_normalized == pytest.approx(statistics.fmean(expected))
    assert stats.rating.median_normalized == pytest.approx(statistics.median(expected))
    assert dict(stats.rating.distribution) == {2: 1, 4: 2, 10: 1}


def test_text_length_counts_code_points(logger: RLHFLogger) -> None:
    """average_length counts characters as Python does (an emoji is one)."""
    iid = logger.log_interaction("q", "a")
    logger.log_text_feedback(iid, "héllo 😀")
    stats = logger.get_feedback_stats()
    assert stats.text is not None
    assert stats.text.average_length == 7


def test_dimensions_plain_and_weighted(logger: RLHFLogger) -> None:
    """Dimension averages are given plain and weighted by each feedback's weights."""
    iid = logger.log_interaction("q", "a")
    logger.log_multi_dimensional_feedback(iid, {"acc": 5, "tone": 1}, weights={"acc": 3, "tone": 1})
    logger.log_multi_dimensional_feedback(iid, {"acc": 3, "tone": 5})
    stats = logger.get_feedback_stats()
    m = stats.multi_dimensional
    assert m is not None
    assert m.dimension_averages == {"acc": 4, "tone": 3}
    assert m.weighted_dimension_averages == {"acc": (15 + 3) / 4, "tone": (1 + 5) / 2}
    assert m.average_weighted_score == pytest.approx(((15 + 1) / 4 + (3 + 5) / 2) / 2)


def test_comparative_confidence(logger: RLHFLogger) -> None:
    """Mean confidence skips comparisons without one."""
    a, b = logger.log_interaction("q", "a"), logger.log_interaction("q", "b")
    logger.log_comparative_feedback(a, [b], confidence_level=0.9)
    logger.log_comparative_feedback(b, [a], confidence_level=0.5)
    logger.log_comparative_feedback(a, [b])
    stats = logger.get_feedback_stats()
    assert stats.comparative is not None
    assert (stats.comparative.count, stats.comparative.average_confidence) == (
        3,
        pytest.approx(0.7),
    )


def test_time_range_filters(logger: RLHFLogger) -> None:
    """Only records inside [start, end] count."""
    iid = logger.log_interaction("q", "a")
    logger.log_rating(iid, 5)
    future = utc_now() + timedelta(hours=1)
    assert logger.get_feedback_stats(start=future).total_feedback == 0
    assert logger.get_feedback_stats(end=future).total_feedback == 1
    assert logger.get_feedback_stats().to_dict()["time_range"]["start"] is None
