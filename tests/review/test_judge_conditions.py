"""Queue conditions on judge verdicts: judge_disagrees, judge_uncertain, judge_only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from rlhf_otel import ValidationError
from rlhf_otel.records import Feedback
from rlhf_otel.review import parse_queue, select_items
from rlhf_otel.stores import MemoryStore
from tests.feedback_data import T0, compare, interaction, rating, thumbs

JUDGE: dict[str, Any] = {"user_id": "helpful@1", "source": "model"}


def _judged(fb: Feedback, **meta: Any) -> Feedback:
    return Feedback(**{**{f: getattr(fb, f) for f in fb.__dataclass_fields__},
                       "metadata": meta})  # fmt: skip


@pytest.fixture
def routed() -> MemoryStore:
    """Single answers i1..i7 and pairs (a, b), (c, d) with judge and people feedback."""
    store = MemoryStore(max_entries=None)
    ids = ["i1", "i2", "i3", "i4", "i5", "i6", "i7", "a", "b", "c", "d"]
    store.write(
        [interaction(i, "q " + i[0], "r " + i, T0 + timedelta(minutes=n), model="m")
         for n, i in enumerate(ids)],
        [],
    )  # fmt: skip
    t = T0 + timedelta(hours=1)
    fbs = [
        _judged(thumbs("j1", "i1", True, t, **JUDGE), confidence=0.9),  # agrees
        thumbs("h1", "i1", True, t, user_id="p1"),
        thumbs("r1", "i1", False, t, user_id="rev", source="review"),  # review: ignored
        _judged(thumbs("j2", "i2", True, t, **JUDGE), confidence=0.9),  # disagrees
        thumbs("h2", "i2", False, t, user_id="p1"),
        _judged(thumbs("j3", "i3", False, t, **JUDGE), confidence=0.2),  # unsure, judge only
        _judged(rating("j4", "i4", 1, t, **JUDGE), confidence=0.8),  # 1/5 vs 5/5: disagrees
        rating("h4", "i4", 5, t, user_id="p2"),
        thumbs("h5", "i5", True, t, user_id="p1"),  # people only
        _judged(thumbs("j6", "i6", True, t, **JUDGE), confidence=0.95),  # judge only
        _judged(
            compare("jab", "a", ["b"], t, **JUDGE),
            consistent=False,
            pair_verdict="inconsistent",
            confidence=0.9,
        ),  # fmt: skip
        _judged(
            compare("jcd", "c", ["d"], t, **JUDGE),
            consistent=True,
            pair_verdict="c",
            confidence=0.9,
        ),  # fmt: skip
        compare("hcd", "d", ["c"], t, user_id="p1"),
        _judged(thumbs("k7", "i7", True, t, user_id="other@3", source="model"), confidence=0.1),
    ]
    store.write([], fbs)
    return store


def _selected(store: MemoryStore, **selection: Any) -> set[str]:
    spec = parse_queue({"name": "q", "selection": selection, "rubric": {"types": ["binary"]}})
    return {i for item in select_items(store, spec.selection) for i in item.interaction_ids}


def test_judge_disagrees_selects_where_people_differ(routed: MemoryStore) -> None:
    """Thumbs and ratings on opposite sides, and a pair the people decided the other way."""
    assert _selected(routed, judge_disagrees=True) == {"i2", "i4", "c", "d"}


def test_judge_uncertain_selects_low_confidence_and_inconsistent_pairs(
    routed: MemoryStore,
) -> None:
    """Confidence below the threshold (default 0.5) or a verdict that changed with order."""
    assert _selected(routed, judge_uncertain=True) == {"i3", "i7", "a", "b"}
    assert _selected(routed, judge_uncertain=0.92) == {"i1", "i2", "i3", "i4", "i7", "a", "b",
                                                      "c", "d"}  # fmt: skip


def test_judge_only_selects_verdicts_without_people(routed: MemoryStore) -> None:
    """A verdict and no feedback from people (review feedback does not count)."""
    assert _selected(routed, judge_only=True) == {"i3", "i6", "i7", "a", "b"}


def test_judge_narrows_to_one_judge(routed: MemoryStore) -> None:
    """judge: name or name@version keeps that judge's verdicts only."""
    assert _selected(routed, judge_only=True, judge="helpful") == {"i3", "i6", "a", "b"}
    assert _selected(routed, judge_only=True, judge="other@3") == {"i7"}
    assert _selected(routed, judge_uncertain=True, judge="helpful@1") == {"i3", "a", "b"}


def test_no_feedback_ignores_judge_verdicts(routed: MemoryStore) -> None:
    """A judge's verdict is not people's feedback: judged-only answers stay unreviewed."""
    assert _selected(routed, no_feedback=True) == {"i3", "i6", "i7", "a", "b"}


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"judge_uncertain": 2}, "queue selection.judge_uncertain: must be true, false or"),
        ({"judge_only": "yes"}, "queue selection.judge_only: must be true or false"),
        ({"judge_only": True, "thumbs_down": True}, "queue selection.judge_only: cannot be"),
        ({"no_feedback": True, "judge_disagrees": True}, "queue selection.no_feedback: cannot"),
        ({"judge": "a b"}, "queue selection.judge: must be a judge name or name@version"),
    ],
)
def test_bad_judge_conditions_name_the_field(selection: dict[str, Any], message: str) -> None:
    """Bad judge conditions raise a ValueError naming the field."""
    with pytest.raises(ValidationError) as info:
        parse_queue({"name": "q", "selection": selection, "rubric": {"types": ["binary"]}})
    assert str(info.value).startswith(message)
