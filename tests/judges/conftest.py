"""Fixtures of the judge tests: a local judge server, stores of interactions, spec files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from rlhf_otel.judges import JudgeSpec, parse_judge
from rlhf_otel.records import Interaction
from rlhf_otel.stores import MemoryStore
from tests.feedback_data import T0, interaction
from tests.servers.judge_server import JudgeServer


@pytest.fixture
def judge_server() -> Iterator[JudgeServer]:
    with JudgeServer() as server:
        yield server


@pytest.fixture(autouse=True)
def judge_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGE_TEST_KEY", "local-test-key")


def spec_dict(base_url: str, **changes: Any) -> dict[str, Any]:
    """A valid binary judge spec for ``base_url``, with top-level ``changes``."""
    raw: dict[str, Any] = {
        "name": "helpful",
        "version": "1",
        "endpoint": {
            "base_url": base_url,
            "model": "judge-model",
            "api_key_env": "JUDGE_TEST_KEY",
            "timeout": 20,
            "max_tokens": 64,
        },
        "rubric": {"type": "binary", "criteria": "helpful"},
        "limits": {"concurrency": 4, "backoff": 0.01},
    }
    raw.update(changes)
    return raw


def make_spec(base_url: str, **changes: Any) -> JudgeSpec:
    """:func:`spec_dict` parsed."""
    return parse_judge(spec_dict(base_url, **changes))


def answers(n: int, *, prefix: str = "i", marks: list[str] | None = None) -> list[Interaction]:
    """``n`` interactions; answer ``k`` carries ``marks[k]`` (a server marker) when given."""
    return [
        interaction(
            f"{prefix}{k:03d}",
            f"question {k}",
            f"answer {k} " + (marks[k] if marks else ""),
            T0 + timedelta(minutes=k),
            model="m1",
        )
        for k in range(n)
    ]


def pairs(n: int) -> list[Interaction]:
    """``n`` prompts each answered by two models (pairwise items)."""
    out = []
    for k in range(n):
        for j, model in enumerate(("m1", "m2")):
            out.append(
                interaction(
                    f"p{k:03d}{model}",
                    f"question {k}",
                    f"{model} says {k}",
                    T0 + timedelta(minutes=k, seconds=j),
                    model=model,
                )
            )
    return out


def store_of(its: list[Interaction]) -> MemoryStore:
    """A memory store holding ``its``."""
    store = MemoryStore(max_entries=None)
    store.write(its, [])
    return store
