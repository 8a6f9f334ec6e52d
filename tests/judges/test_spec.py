"""Judge spec files: parsing, defaults, and errors that name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rlhf_otel import ValidationError
from rlhf_otel.judges import load_judge, parse_judge
from rlhf_otel.review import load_queue
from tests.judges.conftest import spec_dict

URL = "http://127.0.0.1:9/v1"
EXAMPLE = Path(__file__).parents[2] / "examples" / "judges"


def test_valid_spec_parses_with_documented_defaults() -> None:
    """A minimal spec gets the documented defaults and the evaluator id name@version."""
    spec = parse_judge(spec_dict(URL, version=2))
    assert spec.evaluator_id == "helpful@2"
    assert spec.limits.concurrency == 4
    assert spec.limits.requests_per_minute is None
    assert spec.limits.token_budget is None
    assert spec.sampling.rate == 1.0
    assert spec.sampling.selection.pairs is False
    assert "{response}" in spec.template
    assert spec.endpoint.api_key_env == "JUDGE_TEST_KEY"


def test_examples_load() -> None:
    """The example judge specs and the routing queue in examples/judges load as documented."""
    assert load_judge(EXAMPLE / "helpfulness.yaml").evaluator_id == "helpfulness@1"
    assert load_judge(EXAMPLE / "pairwise.yaml").pairwise
    queue = load_queue(EXAMPLE / "disagreements.yaml")
    assert queue.selection.judge_disagrees
    assert queue.selection.judge == "helpfulness"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"modle": 1}, "judge modle: is not a judge field"),
        ({"version": None}, "judge version: is required"),
        ({"rubric": {"type": "stars"}}, "judge rubric.type: must be one of binary, rating"),
        ({"rubric": {"type": "rating", "scale": {"min": 5, "max": 1}}},
         "judge rubric.scale: max (1) must be greater than min (5)"),
        ({"rubric": {"type": "multi_dimensional"}}, "judge rubric.dimensions: is required"),
        ({"rubric": {"type": "pairwise"}}, "judge sampling.pairs: must be true"),
        ({"prompt": {"template": "{prompt} {answer}"}},
         "judge prompt.template: {answer} is not a placeholder"),
        ({"prompt": {"template": "{prompt}"}},
         "judge prompt.template: a binary template must contain {response}"),
        ({"sampling": {"rate": 1.5}}, "judge sampling.rate: must be a number 0..1"),
        ({"sampling": {"modle": "x"}}, "judge sampling.modle: is not a judge field"),
        ({"sampling": {"since": "yesterday"}}, "judge sampling.since: must be an ISO-8601 time"),
        ({"limits": {"concurrency": 0}}, "judge limits.concurrency: must be a whole number 1..256"),
        ({"limits": {"token_budget": -5}}, "judge limits.token_budget: must be a whole number"),
        ({"endpoint": {"base_url": "ftp://x", "model": "m"}}, "judge endpoint.base_url: must be"),
        ({"endpoint": {"base_url": URL, "model": "m", "api_key_env": "sk-abc123!"}},
         "judge endpoint.api_key_env: must name an environment variable"),
    ],
)  # fmt: skip
def test_bad_spec_is_refused_naming_the_field(change: dict[str, Any], message: str) -> None:
    """Each bad value raises a ValueError whose message starts with the field's path."""
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")
                       .replace("{", r"\{").replace("}", r"\}").replace(".", r"\.")):  # fmt: skip
        parse_judge(spec_dict(URL, **change))


def test_missing_key_variable_is_named_not_leaked(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unset key variable is an error naming the variable; the spec never holds a key."""
    spec = parse_judge(spec_dict(URL))
    monkeypatch.delenv("JUDGE_TEST_KEY")
    with pytest.raises(ValidationError, match="JUDGE_TEST_KEY is not set"):
        spec.endpoint.api_key()
    monkeypatch.setenv("JUDGE_TEST_KEY", "sk-secret-value")
    assert spec.endpoint.api_key() == "sk-secret-value"
    assert "sk-secret-value" not in repr(spec)


def test_spec_file_errors_are_one_line_with_the_path(tmp_path: Path) -> None:
    """A file too large for the capped loader, or with a bad field, fails naming the file."""
    big = tmp_path / "big.json"
    big.write_text("[" + "1," * 600_000 + "1]")
    with pytest.raises(ValidationError, match="judge spec .*big.json is .* bytes, more than"):
        load_judge(big)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: 1\nrubric: {type: binary}\n")
    with pytest.raises(ValidationError, match=r"bad.yaml: judge endpoint: is required"):
        load_judge(bad)
