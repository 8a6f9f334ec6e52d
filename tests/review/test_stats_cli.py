"""`rlhf-otel stats --json` carries a review section: progress and agreement per queue."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import FeedbackFilter
from rlhf_otel.cli import main
from rlhf_otel.review import ReviewService, parse_queue
from tests.review.support import SINGLE_QUEUE, open_logger, seed_singles


def test_stats_json_review_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Per reviewer counts and the agreement of get_analytics, by queue name."""
    provider = TracerProvider()
    logger = open_logger(tmp_path / "data", provider)
    seed_singles(logger, n_down=6, n_up=0)
    service = ReviewService(logger, parse_queue(SINGLE_QUEUE))
    n = 0
    for _ in range(6):
        for who, shift in (("ann", 0), ("bo", 1)):
            got = service.next(who, "t")
            n += 1
            rating = 1 + (got["item"]["position"] + shift * (n % 2)) % 5
            answers = {"binary": "thumbs_up" if rating > 2 else "thumbs_down", "rating": rating,
                       "dimensions": {"accuracy": rating, "helpfulness": 3}}  # fmt: skip
            service.submit(who, {"item": got["item"]["key"], "lease": got["lease"]["id"],
                                 "submission": f"s-{n:08d}", "answers": answers})  # fmt: skip
    expected = [asdict(a) for a in logger.get_analytics(FeedbackFilter(source="review")).agreement]
    logger.close()
    provider.shutdown()
    assert main(["stats", "--data-dir", str(tmp_path / "data"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    review = out["review"]["triage"]
    assert (review["reviews"], review["items_reviewed"]) == (12, 6)
    assert sorted(review["reviewers"]) == ["ann", "bo"]
    assert review["reviewers"]["ann"]["reviews"] == 6
    assert [a["kind"] for a in review["agreement"]] == [
        "binary", "rating", "dimension:accuracy", "dimension:helpfulness",
    ]  # fmt: skip
    assert review["agreement"] == expected
