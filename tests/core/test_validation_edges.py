"""Edges of the public API: deep and circular metadata, lone surrogates in any text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rlhf_otel import RLHFLogger, ValidationError


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def test_metadata_nested_5000_deep_raises_validation_error(logger: RLHFLogger) -> None:
    """Metadata nested 5,000 deep raises ValidationError naming the depth limit."""
    iid = logger.log_interaction("q", "a")
    message = "metadata is nested more than 32 levels deep; flatten it"
    with pytest.raises(ValidationError) as exc:
        logger.log_rating(iid, 4, metadata=_nested(5000))
    assert str(exc.value) == message
    with pytest.raises(ValidationError) as exc:
        logger.log_interaction("q", "a", metadata={"list": [_nested(5000)]})
    assert str(exc.value) == message
    with pytest.raises(ValidationError, match="model_params is nested more than 32 levels"):
        logger.log_interaction("q", "a", model_params=_nested(40))
    assert logger.delivery()["accepted"] == 1


def test_metadata_at_the_depth_limit_is_kept(logger: RLHFLogger) -> None:
    """Metadata exactly 32 levels deep is stored as given."""
    iid = logger.log_interaction("q", "a", metadata=_nested(32))
    it = logger.get_interaction(iid)
    assert it is not None
    assert json.dumps(it.metadata) == json.dumps(_nested(32))


def test_circular_metadata_raises_validation_error(logger: RLHFLogger) -> None:
    """A mapping or list that holds itself raises ValidationError, not a plain ValueError."""
    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop
    items: list[Any] = [1]
    items.append(items)
    iid = logger.log_interaction("q", "a")
    for bad in (loop, {"items": items}):
        with pytest.raises(ValidationError) as exc:
            logger.log_text_feedback(iid, "ok", metadata=bad)
        assert str(exc.value) == "metadata is circular: a container holds itself"
    shared = {"x": 1}
    fid = logger.log_text_feedback(iid, "ok", metadata={"a": shared, "b": shared})
    fb = logger.get_feedback(fid)
    assert fb is not None
    assert fb.metadata == {"a": {"x": 1}, "b": {"x": 1}}


def test_lone_surrogates_become_replacement_characters(logger: RLHFLogger) -> None:
    """Every text taken at the API has lone surrogates replaced by U+FFFD, and exports work."""
    iid = logger.log_interaction(
        "p\ud83d",
        "r\udc00",
        model="m\ud800",
        user_id="u\ud83d",
        context=[{"role": "user", "content": "c\ud83d"}],
        metadata={"k\ud83d": ["v\ud83d"]},
    )
    fid = logger.log_text_feedback(iid, "x\ud83d", source="s\ud83d")
    logger.log_multi_dimensional_feedback(iid, {"d\ud83d": 3.0}, overall_comment="o\ud83d")
    it = logger.get_interaction(iid)
    fb = logger.get_feedback(fid)
    assert it is not None
    assert fb is not None
    assert (it.prompt, it.response, it.model, it.user_id) == (
        "p\ufffd",
        "r\ufffd",
        "m\ufffd",
        "u\ufffd",
    )
    assert it.context == [{"role": "user", "content": "c\ufffd"}]
    assert it.metadata == {"k\ufffd": ["v\ufffd"]}
    assert (fb.data["comment"], fb.source) == ("x\ufffd", "s\ufffd")
    exported = logger.export_feedback("jsonl")
    assert isinstance(exported, str)
    exported.encode("utf-8")
    assert '"d\ufffd":3' in exported
    assert '"overall_comment":"o\ufffd"' in exported
