"""The meaning of each filter field is written once, and the ZeroDB form combines alike."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from rlhf_otel.records import (
    FEEDBACK_FILTER_FIELDS,
    INTERACTION_FILTER_FIELDS,
    FeedbackFilter,
    FeedbackType,
    InteractionFilter,
    merge_mongo,
)


@pytest.mark.parametrize(
    ("cls", "fields"),
    [(FeedbackFilter, FEEDBACK_FILTER_FIELDS), (InteractionFilter, INTERACTION_FILTER_FIELDS)],
)
def test_every_filter_field_has_exactly_one_meaning(cls: type, fields: tuple) -> None:
    """Each selecting field of a filter (all but limit and offset) has one row, no more."""
    selecting = [f.name for f in dataclasses.fields(cls) if f.name not in ("limit", "offset")]
    assert sorted(f.name for f in fields) == sorted(selecting)


def test_sql_parameters_match_the_placeholders() -> None:
    """Every row's SQL has as many ``?`` as its parameters, for a filter with all fields set."""
    t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    flt = FeedbackFilter(
        start_time=t, end_time=t, types=[FeedbackType.RATING], user_id="u", session_id="s",
        source="web", interaction_ids=["i1"], min_rating=1, max_rating=5,
    )  # fmt: skip
    conditions = flt.conditions()
    assert len(conditions) == len(FEEDBACK_FILTER_FIELDS)
    for cond in conditions:
        sql, params = cond.sql()
        assert sql.count("?") == len(params), cond.field.name


def test_mongo_conditions_on_one_column_combine() -> None:
    """Bounds on one column merge into one object and two $in lists intersect."""
    flt = FeedbackFilter(
        types=[FeedbackType.TEXT, FeedbackType.RATING],
        min_rating=2,
        max_rating=4,
        start_time=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    assert merge_mongo(flt.conditions(), {"type": "feedback"}) == {
        "type": "feedback",
        "timestamp": {"$gte": "2026-01-01T00:00:00.000000Z"},
        "feedback_type": {"$in": ["rating"]},
        "rating": {"$gte": 2, "$lte": 4},
    }
    only_text = FeedbackFilter(types=[FeedbackType.TEXT], min_rating=1)
    assert merge_mongo(only_text.conditions(), {})["feedback_type"] == {"$in": []}
