"""Queue files: parsed into a QueueSpec, or refused with a message naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rlhf_otel import ValidationError
from rlhf_otel.cli import main
from rlhf_otel.review import load_queue, parse_queue

GOOD: dict[str, Any] = {
    "name": "triage",
    "selection": {"thumbs_down": True, "models": ["a", "b"], "since": "2026-01-01T00:00:00Z",
                  "sample": 50, "seed": 4},
    "reviewers_per_item": 3,
    "blind": True,
    "lease_timeout": 90,
    "guidelines": "Judge **accuracy** first.",
    "rubric": {"types": ["rating", "multi_dimensional"], "dimensions": {"accuracy": 2, "tone": 1},
               "scale": {"min": 1, "max": 7},
               "guide": {"rating": {"description": "Overall", "scores": {"1": "wrong", "7": "perfect"}},
                         "tone": "Polite and plain"}},
}  # fmt: skip


def test_yaml_and_json_files_give_the_same_queue(tmp_path: Path) -> None:
    """A YAML file and the same queue as JSON parse to equal specs."""
    (tmp_path / "q.json").write_text(json.dumps(GOOD))
    (tmp_path / "q.yaml").write_text(
        "name: triage\n"
        "selection: {thumbs_down: true, models: [a, b], since: '2026-01-01T00:00:00Z', sample: 50, seed: 4}\n"
        "reviewers_per_item: 3\nblind: true\nlease_timeout: 90\n"
        "rubric:\n  types: [rating, multi_dimensional]\n  dimensions: {accuracy: 2, tone: 1}\n"
        "  scale: {min: 1, max: 7}\n"
        "  guide:\n    rating: {description: Overall, scores: {1: wrong, 7: perfect}}\n"
        "    tone: Polite and plain\n"
        "guidelines: Judge **accuracy** first.\n"
    )
    spec = load_queue(tmp_path / "q.json")
    assert load_queue(tmp_path / "q.yaml") == spec
    assert spec.to_dict()["rubric"] == {
        "types": ["rating", "multi_dimensional"],
        "dimensions": {"accuracy": 2.0, "tone": 1.0},
        "scale": {"min": 1, "max": 7},
        "guide": {
            "rating": {"description": "Overall", "scores": {"1": "wrong", "7": "perfect"}},
            "tone": {"description": "Polite and plain", "scores": {}},
        },
    }
    assert spec.guidelines == "Judge **accuracy** first."
    assert (spec.reviewers_per_item, spec.blind, spec.lease_timeout) == (3, True, 90.0)
    assert spec.selection.models == ("a", "b")
    assert spec.selection.since is not None
    assert spec.selection.since.isoformat() == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"colour": "red"},
            "queue colour: is not a queue field; allowed here: name, guidelines, selection, reviewers_per_item, blind, lease_timeout, rubric",
        ),
        (
            {"selection": {"modle": "x"}},
            "queue selection.modle: is not a queue field; allowed here: no_feedback, thumbs_down, rating_at_most, model, models, since, until, sample, seed, pairs, judge_disagrees, judge_uncertain, judge_only, judge",
        ),
        (
            {"rubric": {"dimensions": {"a": 1}}},
            "queue rubric.types: must be a non-empty list of feedback types; allowed: binary, rating, text, multi_dimensional, comparative",
        ),
        (
            {"rubric": {"types": []}},
            "queue rubric.types: must be a non-empty list of feedback types; allowed: binary, rating, text, multi_dimensional, comparative",
        ),
        (
            {"rubric": None},
            "queue rubric: is required: give rubric.types (binary, rating, text, multi_dimensional, comparative)",
        ),
        (
            {"rubric": {"types": ["stars"]}},
            "queue rubric.types: 'stars' is not a feedback type; allowed: binary, rating, text, multi_dimensional, comparative",
        ),
        (
            {"rubric": {"types": ["multi_dimensional"]}},
            "queue rubric.dimensions: is required when types include multi_dimensional",
        ),
        (
            {"rubric": {"types": ["comparative"]}},
            "queue rubric.types: comparative needs selection.pairs: true",
        ),
        (
            {"selection": {"pairs": True}, "rubric": {"types": ["rating"]}},
            "queue rubric.types: a pairs queue needs comparative (the A/B vote)",
        ),
        (
            {"rubric": {"types": ["rating"], "scale": {"min": 3, "max": 3}}},
            "queue rubric.scale: max (3) must be greater than min (3)",
        ),
        (
            {"rubric": {"types": ["rating"], "scale": {"min": 1, "max": 10}}},
            "queue rubric.scale.max: must be a whole number 0..9; got 10",
        ),
        (
            {"reviewers_per_item": 0},
            "queue reviewers_per_item: must be a whole number 1..20; got 0",
        ),
        ({"lease_timeout": -5}, "queue lease_timeout: must be 1..86400 seconds; got -5"),
        ({"blind": "yes"}, "queue blind: must be true or false; got 'yes'"),
        (
            {"name": "bad name!"},
            "queue name: must be 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit; got 'bad name!'",
        ),
        (
            {"selection": {"no_feedback": True, "thumbs_down": True}},
            "queue selection.no_feedback: cannot be combined with thumbs_down or rating_at_most (those need feedback)",
        ),
        (
            {"selection": {"since": "yesterday"}},
            "queue selection.since: must be an ISO-8601 time such as 2026-01-31T00:00:00Z; got 'yesterday'",
        ),
        (
            {"selection": {"sample": 0}},
            "queue selection.sample: must be a whole number >= 1; got 0",
        ),
    ],
)
def test_bad_queue_is_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    """Unknown fields, a rubric without types and bad values each get a clear message."""
    raw = {"name": "q", "rubric": {"types": ["rating"]}, **change}
    with pytest.raises(ValidationError) as info:
        parse_queue(raw)
    assert str(info.value) == message


def test_cli_exits_2_on_a_bad_queue_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rlhf-otel review --queue` with an unknown field exits 2 with one line naming it."""
    bad = tmp_path / "q.json"
    bad.write_text(json.dumps({"name": "q", "rubric": {"types": ["rating"]}, "reviewers": 2}))
    assert main(["review", "--data-dir", str(tmp_path), "--queue", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"rlhf-otel: error: {bad}: queue reviewers: is not a queue field; allowed here: name, "
        "guidelines, selection, reviewers_per_item, blind, lease_timeout, rubric\n"
    )
    broken = tmp_path / "q.yaml"
    broken.write_text("name: [unclosed\n")
    assert main(["review", "--data-dir", str(tmp_path), "--queue", str(broken)]) == 2
    assert capsys.readouterr().err.startswith(
        f"rlhf-otel: error: queue file {broken} is not valid YAML"
    )
