"""Typed feedback data: one class per type knows its stored data and its span attributes."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from rlhf_otel.records import (
    BinaryData,
    ComparativeData,
    Feedback,
    FeedbackType,
    MultiDimensionalData,
    RatingData,
    TextData,
    data_class,
    feedback_data,
)

STORED: dict[FeedbackType, dict[str, Any]] = {
    FeedbackType.BINARY: {"value": "thumbs_down"},
    FeedbackType.RATING: {"rating": 3.5, "min_rating": 0, "max_rating": 7, "comment": "ok"},
    FeedbackType.TEXT: {"comment": "hm", "sentiment": "neutral", "correction": "Better."},
    FeedbackType.MULTI_DIMENSIONAL: {
        "dimensions": {"a": 1.5, "b": 2},
        "weights": {"a": 1, "b": 3},
        "overall_comment": None,
    },
    FeedbackType.COMPARATIVE: {
        "preferred_response_id": "x",
        "compared_response_ids": ["y", "z"],
        "reason": "clearer",
        "confidence_level": 0.25,
        "outcome": "tie",
    },
}


@pytest.mark.parametrize("ftype", list(FeedbackType))
def test_stored_data_and_span_attributes_round_trip(ftype: FeedbackType) -> None:
    """Each type's data reads back unchanged from its stored form and from its span form."""
    cls = data_class(ftype)
    data = cls.from_data(STORED[ftype])
    assert data.to_data() == STORED[ftype]
    attrs: dict[str, Any] = {}
    data.to_attributes(attrs)
    assert cls.from_attributes(attrs).to_data() == STORED[ftype]


def test_feedback_data_is_the_typed_view_of_a_record() -> None:
    """feedback_data() gives the record's data as its type's class, fields typed."""
    fb = Feedback(
        id="f",
        interaction_id="i",
        type=FeedbackType.RATING,
        data=STORED[FeedbackType.RATING],
        timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    assert feedback_data(fb) == RatingData(rating=3.5, min_rating=0, max_rating=7, comment="ok")


def test_evaluation_names_per_type() -> None:
    """Each type says its GenAI evaluation score, label and explanation."""
    out: dict[str, Any] = {}
    BinaryData(value="thumbs_up").evaluation(out)
    assert out == {
        "gen_ai.evaluation.score.value": 1.0,
        "gen_ai.evaluation.score.label": "thumbs_up",
    }
    out = {}
    MultiDimensionalData(dimensions={"a": 1.5, "b": 2}, weights={"a": 1, "b": 3}).evaluation(out)
    assert out == {"gen_ai.evaluation.score.value": 1.875}
    out = {}
    TextData(comment="fine", sentiment="positive").evaluation(out)
    assert out == {
        "gen_ai.evaluation.score.label": "positive",
        "gen_ai.evaluation.explanation": "fine",
    }
    out = {}
    ComparativeData(preferred_response_id="x", compared_response_ids=["y"]).evaluation(out)
    assert out == {"gen_ai.evaluation.score.label": "preferred"}


@pytest.mark.parametrize("ftype", list(FeedbackType))
def test_stored_data_passes_its_own_check_unchanged(ftype: FeedbackType) -> None:
    """Each type's check of submitted data keeps data already in its stored form."""
    assert data_class(ftype).validate(STORED[ftype]) == STORED[ftype]


def test_readers_of_stored_data_per_type() -> None:
    """Each type gives its listing line, its 0..1 satisfaction and the interactions it names;
    stored type names find their class too."""
    summaries = {t: data_class(t.value).summary(STORED[t]) for t in FeedbackType}
    assert summaries == {
        FeedbackType.BINARY: "thumbs_down",
        FeedbackType.RATING: "3.5/7 ok",
        FeedbackType.TEXT: "[neutral] hm",
        FeedbackType.MULTI_DIMENSIONAL: "a 1.5, b 2",
        FeedbackType.COMPARATIVE: "x > y, z",
    }
    scores = {t: data_class(t).satisfaction(STORED[t]) for t in FeedbackType}
    assert scores == {
        FeedbackType.BINARY: 0.0,
        FeedbackType.RATING: 0.5,
        FeedbackType.TEXT: None,
        FeedbackType.MULTI_DIMENSIONAL: None,
        FeedbackType.COMPARATIVE: None,
    }
    named = {t: data_class(t).targets(STORED[t]) for t in FeedbackType}
    assert named == {
        FeedbackType.BINARY: None,
        FeedbackType.RATING: None,
        FeedbackType.TEXT: None,
        FeedbackType.MULTI_DIMENSIONAL: None,
        FeedbackType.COMPARATIVE: ["x", "y", "z"],
    }


def test_a_comparison_names_its_targets_in_a_list() -> None:
    """A comparison whose ids are not a string and a list says what it needs."""
    with pytest.raises(ValueError, match="compared_response_ids \\(list of strings\\)"):
        ComparativeData.targets({"preferred_response_id": "x", "compared_response_ids": "y"})
