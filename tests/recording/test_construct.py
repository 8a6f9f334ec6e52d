"""The fast record constructor gives exactly what the record class's own constructor gives."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

from rlhf_otel.recording._construct import slot_builder
from rlhf_otel.records import Feedback, FeedbackType, Interaction, TokenUsage

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_interaction_equals_the_class_constructor() -> None:
    """Every field of the interaction is set, to the value given, on a frozen instance."""
    values = {
        "id": "i", "prompt": "p", "response": "r", "timestamp": WHEN, "model": "m",
        "provider": "o", "model_params": {"temperature": 0.5}, "latency_ms": 1.5,
        "token_usage": TokenUsage(1, 2, 3), "user_id": "u", "session_id": "s",
        "context": [{"role": "system", "content": "c"}], "metadata": {"k": 1},
        "response_id": "x", "finish_reasons": ("stop",), "error_type": None,
        "time_to_first_token_ms": 2.5, "trace_id": "t", "span_id": "a", "feedback_ids": ("f",),
    }  # fmt: skip
    names = tuple(reversed(values))
    built = slot_builder(Interaction, names)(*(values[n] for n in names))
    assert built == Interaction(**values)  # type: ignore[arg-type]
    assert dataclasses.asdict(built) == dataclasses.asdict(Interaction(**values))  # type: ignore[arg-type]


def test_feedback_equals_the_class_constructor() -> None:
    """The feedback record is built alike."""
    values = {
        "id": "f", "interaction_id": "i", "type": FeedbackType.RATING, "data": {"rating": 4},
        "timestamp": WHEN, "user_id": None, "session_id": "s", "source": "web",
        "metadata": {}, "target_ids": ("i",), "trace_id": None, "span_id": None,
        "supersedes": None,
    }  # fmt: skip
    names = tuple(values)
    assert slot_builder(Feedback, names)(*values.values()) == Feedback(**values)  # type: ignore[arg-type]


def test_missing_field_names_fall_back_to_the_class() -> None:
    """With names that are not the class's fields the class itself is called (and says so)."""
    build = slot_builder(TokenUsage, ("prompt", "completion"))
    assert build(1, 2) == TokenUsage(1, 2)
