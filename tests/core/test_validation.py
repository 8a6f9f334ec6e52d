"""Bad input is rejected at the public API with a message saying what is allowed."""

from __future__ import annotations

import math
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import (
    ConfigurationError,
    RLHFLogger,
    ValidationError,
    create_rlhf_logger,
)
from rlhf_otel.stores import MemoryStore


@pytest.fixture
def iid(logger: RLHFLogger) -> str:
    return logger.log_interaction("q", "a")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda lg, i: lg.log_rating(i, 0), "Rating must be between 1 and 5; got 0"),
        (lambda lg, i: lg.log_rating(i, 6), "Rating must be between 1 and 5; got 6"),
        (
            lambda lg, i: lg.log_rating(i, 11, max_rating=10),
            "Rating must be between 1 and 10; got 11",
        ),
        (lambda lg, i: lg.log_rating(i, math.nan), "rating must be a finite number; got nan"),
        (lambda lg, i: lg.log_rating(i, math.inf), "rating must be a finite number; got inf"),
        (lambda lg, i: lg.log_rating(i, True), "rating must be a finite number; got bool True"),
        (
            lambda lg, i: lg.log_rating(i, 3, max_rating=0),
            "max_rating (0) must be greater than min_rating (1)",
        ),
        (
            lambda lg, i: lg.log_binary_feedback(i, "meh"),
            "binary feedback value 'meh' is not allowed",
        ),
        (
            lambda lg, i: lg.log_text_feedback(i, "   "),
            "text feedback comment must be a non-empty string",
        ),
        (
            lambda lg, i: lg.log_text_feedback(i, "ok", "angry"),
            "sentiment 'angry' is not allowed; use 'positive', 'negative', 'neutral' or None",
        ),
        (
            lambda lg, i: lg.log_multi_dimensional_feedback(i, {}),
            "dimensions must be a non-empty mapping",
        ),
        (
            lambda lg, i: lg.log_multi_dimensional_feedback(i, {"a": math.nan}),
            "dimension 'a' must be a finite number; got nan",
        ),
        (
            lambda lg, i: lg.log_multi_dimensional_feedback(i, {"a": "5"}),
            "dimension 'a' must be a finite number; got str '5'",
        ),
        (
            lambda lg, i: lg.log_multi_dimensional_feedback(i, {"a": 1, "b": 2}, weights={"a": 1}),
            "weights must name exactly the dimensions; missing ['b'], unknown []",
        ),
        (
            lambda lg, i: lg.log_multi_dimensional_feedback(i, {"a": 1}, weights={"a": -1}),
            "weight 'a' must be >= 0; got -1",
        ),
        (
            lambda lg, i: lg.log_comparative_feedback(i, []),
            "compared_response_ids must not be empty",
        ),
        (
            lambda lg, i: lg.log_comparative_feedback(i, [i]),
            "a response cannot be compared with itself",
        ),
        (
            lambda lg, i: lg.log_comparative_feedback(i, ["x1"], confidence_level=1.5),
            "Confidence level must be between 0 and 1; got 1.5",
        ),
        (
            lambda lg, i: lg.log_comparative_feedback(i, ["x1"], confidence_level=-0.1),
            "Confidence level must be between 0 and 1; got -0.1",
        ),
        (
            lambda lg, i: lg.log_binary_feedback("not an id!", True),
            "interaction id 'not an id!' is malformed",
        ),
        (lambda lg, i: lg.log_binary_feedback("", True), "interaction id '' is malformed"),
        (lambda lg, i: lg.log_binary_feedback("../../etc/passwd", True), "is malformed"),
        (
            lambda lg, i: lg.log_interaction("q", "a", latency=-1),
            "latency must be >= 0 milliseconds; got -1",
        ),
        (
            lambda lg, i: lg.log_interaction("q", "a", token_usage={"prompt": -1}),
            "token_usage.prompt must be an int >= 0; got -1",
        ),
        (
            lambda lg, i: lg.log_interaction(
                "q", "a", context=[{"role": "wizard", "content": "x"}]
            ),
            "context[0] must be a mapping with role in system, user, assistant, tool, developer",
        ),
        (lambda lg, i: lg.log_interaction("q", None), "prompt and response must be strings"),
        (lambda lg, i: lg.log_rating(i, 3, color="red"), "unknown option(s) ['color']"),
        (lambda lg, i: lg.query_feedback(limit=-1), "limit must be an int >= 0 or None; got -1"),
        (
            lambda lg, i: lg.log_feedback(i, "stars", {}),
            "feedback type 'stars' unknown; allowed: binary, rating, text, multi_dimensional, comparative",
        ),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(
    logger: RLHFLogger, iid: str, store: MemoryStore, call: Any, message: str
) -> None:
    """Each invalid call raises ValidationError (a ValueError) naming the problem; nothing is stored."""
    logger.flush()
    before = len(store)
    with pytest.raises(ValidationError) as info:
        call(logger, iid)
    assert isinstance(info.value, ValueError)
    assert message in str(info.value)
    logger.flush()
    assert len(store) == before


def test_valid_edge_values_are_accepted(logger: RLHFLogger, iid: str) -> None:
    """The bounds themselves are allowed: rating 1 and max, confidence 0 and 1, weight 0."""
    logger.log_rating(iid, 1)
    logger.log_rating(iid, 5)
    logger.log_rating(iid, 2.5)
    logger.log_comparative_feedback(iid, ["other-1"], confidence_level=0)
    logger.log_comparative_feedback(iid, ["other-1"], confidence_level=1)
    logger.log_multi_dimensional_feedback(iid, {"a": 1, "b": 2}, weights={"a": 0, "b": 1})
    assert len(logger.get_feedback_for_interaction(iid)) == 6


def test_auto_ids_off_requires_ids(tracer_provider: TracerProvider) -> None:
    """With auto ids off, logging without an id fails with the guide's message; with one it works."""
    with create_rlhf_logger(
        backend="memory", auto_generate_ids=False, tracer_provider=tracer_provider
    ) as lg:
        with pytest.raises(
            ValidationError, match="Interaction ID required when autoGenerateIds is disabled"
        ):
            lg.log_interaction("q", "a")
        assert lg.log_interaction("q", "a", interaction_id="order-42") == "order-42"
        with pytest.raises(
            ValidationError, match="Feedback ID required when autoGenerateIds is disabled"
        ):
            lg.log_binary_feedback("order-42", True)
        lg.log_binary_feedback("order-42", True, feedback_id="fb-1")
        (fb,) = lg.get_feedback_for_interaction("order-42")
        assert fb.id == "fb-1"
        it = lg.get_interaction("order-42")
        assert it is not None
        assert tuple(it.feedback_ids) == ("fb-1",)


def test_custom_backend_without_implementation(tracer_provider: TracerProvider) -> None:
    """The custom backend without a store fails with the guide's message."""
    with pytest.raises(ConfigurationError, match="Custom storage backend implementation required"):
        create_rlhf_logger(backend="custom", tracer_provider=tracer_provider)


def test_unknown_backend_and_option(tracer_provider: TracerProvider) -> None:
    """An unknown backend or option names the allowed values."""
    with pytest.raises(
        ConfigurationError,
        match="Unsupported storage backend: 'mongo'; allowed: zerodb, local, custom, memory",
    ):
        create_rlhf_logger(backend="mongo", tracer_provider=tracer_provider)
    with pytest.raises(ConfigurationError, match="unknown logger option.s. batchsize"):
        create_rlhf_logger(batchsize=3, tracer_provider=tracer_provider)
    with pytest.raises(ConfigurationError, match="batch_size must be an int >= 1; got 0"):
        create_rlhf_logger(backend="memory", batch_size=0, tracer_provider=tracer_provider)


def test_anonymous_records_rejected_when_not_allowed(tracer_provider: TracerProvider) -> None:
    """allow_anonymous=False rejects records with no user id, from the call or the session."""
    with create_rlhf_logger(
        backend="memory", allow_anonymous=False, tracer_provider=tracer_provider
    ) as lg:
        with pytest.raises(ValidationError, match="a user id is required"):
            lg.log_interaction("q", "a")
        lg.log_interaction("q", "a", user_id="u1")
        with lg.session(user_id="u2"):
            iid = lg.log_interaction("q", "a")
        it = lg.get_interaction(iid)
        assert it is not None
        assert it.user_id == "u2"
