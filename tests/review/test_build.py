"""Queue building: each selection condition, samples, pairs; review feedback never counts."""

from __future__ import annotations

from datetime import timedelta

from rlhf_otel import RLHFLogger
from rlhf_otel.review import build_queue, parse_queue


def _queue(
    logger: RLHFLogger, selection: dict[str, object], types: list[str] | None = None
) -> list[str]:
    spec = parse_queue(
        {"name": "q", "selection": selection, "rubric": {"types": types or ["rating"]}}
    )
    logger.flush()
    return [it.key for it in build_queue(logger.store, spec)]


def test_selection_conditions(logger: RLHFLogger) -> None:
    """no_feedback, thumbs_down, rating_at_most, models and time range select as documented."""
    ids = [
        logger.log_interaction(f"q{i}", f"a{i}", model=("m1", "m2", "m3")[i % 3]) for i in range(9)
    ]
    logger.log_binary_feedback(ids[0], False, user_id="u")
    logger.log_binary_feedback(ids[1], True, user_id="u")
    old = logger.log_binary_feedback(ids[2], False, user_id="u")
    logger.log_binary_feedback(ids[2], True, user_id="u", supersedes=old)  # changed vote
    logger.log_rating(ids[3], 2, user_id="u")
    logger.log_rating(ids[4], 4, user_id="u")
    logger.log_rating(ids[5], 1, user_id="r", source="review")  # a reviewer's: never counts
    assert _queue(logger, {"no_feedback": True}) == [ids[5], ids[6], ids[7], ids[8]]
    assert _queue(logger, {"thumbs_down": True}) == [ids[0]]
    assert _queue(logger, {"rating_at_most": 2}) == [ids[3]]
    assert _queue(logger, {"rating_at_most": 4, "models": ["m2"]}) == [ids[4]]
    assert _queue(logger, {"model": "m1"}) == [ids[0], ids[3], ids[6]]
    all_its = logger.get_interactions()
    since = all_its[6].timestamp.isoformat()
    until = (all_its[7].timestamp + timedelta(microseconds=1)).isoformat()
    assert _queue(logger, {"since": since, "until": until}) == [ids[6], ids[7]]


def test_sample_is_seeded(logger: RLHFLogger) -> None:
    """The same seed gives the same sample in the same order; another seed another one."""
    ids = [logger.log_interaction(f"q{i}", f"a{i}", model="m") for i in range(50)]
    a = _queue(logger, {"sample": 10, "seed": 1})
    assert a == _queue(logger, {"sample": 10, "seed": 1})
    assert a != _queue(logger, {"sample": 10, "seed": 2})
    assert len(set(a)) == 10
    assert set(a) <= set(ids)
    assert a != sorted(a, key=ids.index)  # random order, not store order


def test_pairs_are_two_models_on_one_prompt(logger: RLHFLogger) -> None:
    """One pair per prompt answered by two or more models, always of different models."""
    models = {}
    for p in range(5):
        for m in ("x", "y", "z")[: 1 + p % 3]:
            for k in range(2):
                models[logger.log_interaction(f"prompt {p}", f"{m}{k}", model=m)] = m
    keys = _queue(logger, {"pairs": True, "seed": 9}, ["comparative"])
    assert len(keys) == 3  # prompts 1, 2 and 4 have two or more models
    for key in keys:
        a, b = key.split("|")
        assert models[a] != models[b]
    assert keys == _queue(logger, {"pairs": True, "seed": 9}, ["comparative"])
