"""Stores, services and servers for the review app tests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import RLHFLogger, create_rlhf_logger
from rlhf_otel.review import ReviewService, parse_queue, review_app
from rlhf_otel.web import running_server

MODELS = ("model-red", "model-blue")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Clock:
    """A monotonic clock the test moves by hand (lease expiry without sleeping)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def open_logger(data_dir: Path, provider: TracerProvider) -> RLHFLogger:
    """A logger on a JSONL store in ``data_dir`` with the test's tracer provider."""
    return create_rlhf_logger(backend="local", data_dir=str(data_dir), tracer_provider=provider)


def seed_singles(logger: RLHFLogger, n_down: int = 20, n_up: int = 10) -> list[str]:
    """``n_down`` answers an end user gave a thumbs-down (the queue) and ``n_up`` liked ones;
    returns the ids of the thumbs-down ones in logging order."""
    down = []
    for i in range(n_down + n_up):
        iid = logger.log_interaction(
            f"question {i}: what is {i} + {i}?",
            f"answer {i}: it is {2 * i + (i % 3)}",
            model=MODELS[i % 2],
            user_id=f"end-user-{i}",
        )
        if i < n_down:
            down.append(iid)
            logger.log_binary_feedback(iid, False, user_id=f"end-user-{i}", source="web")
        else:
            logger.log_binary_feedback(iid, True, user_id=f"end-user-{i}", source="web")
    logger.flush()
    return down


def seed_pairs(logger: RLHFLogger, prompts: int = 12) -> dict[str, str]:
    """Each prompt answered by both models; returns interaction id -> model."""
    models = {}
    for p in range(prompts):
        for j, m in enumerate(MODELS):
            iid = logger.log_interaction(
                f"pair prompt {p}", f"reply {p}/{(p * 31 + j * 17) % 97}", model=m,
                user_id=f"end-user-{p}",
            )  # fmt: skip
            models[iid] = m
    logger.flush()
    return models


SINGLE_QUEUE: Mapping[str, Any] = {
    "name": "triage",
    "selection": {"thumbs_down": True},
    "reviewers_per_item": 2,
    "blind": True,
    "lease_timeout": 120,
    "rubric": {
        "types": ["binary", "rating", "multi_dimensional", "text"],
        "dimensions": {"accuracy": 2, "helpfulness": 1},
        "scale": {"min": 1, "max": 5},
    },
}
PAIR_QUEUE: Mapping[str, Any] = {
    "name": "arena",
    "selection": {"pairs": True, "seed": 3},
    "reviewers_per_item": 2,
    "blind": True,
    "rubric": {"types": ["comparative", "text"]},
}


@contextmanager
def serving(
    logger: RLHFLogger, queue: Mapping[str, Any], clock: Clock | None = None
) -> Iterator[tuple[ReviewService, str]]:
    """The review app for ``queue`` on a real uvicorn server on 127.0.0.1."""
    service = ReviewService(logger, parse_queue(queue), clock=clock or Clock())
    with running_server(review_app(service)) as url:
        yield service, url
