"""Votes sent over real HTTP count by the documented rule, whatever the client key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rlhf_otel import RLHFLogger
from rlhf_otel.cli import main
from rlhf_otel.export import get_analytics
from rlhf_otel.records import FeedbackFilter
from tests.web.conftest import Site

IID = "chat-1"


@pytest.fixture
def api(site: Site) -> Iterator[httpx.Client]:
    """An HTTP client on the feedback service."""
    with httpx.Client(base_url=f"{site.url}/rlhf") as client:
        yield client


def test_one_user_with_fresh_client_keys_counts_one_vote(
    api: httpx.Client, logger: RLHFLogger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Twenty thumbs-down from one token's user with fresh client keys are all stored (the
    history is append-only) and count as one vote in stats, analytics and `stats --user`."""
    token = logger.feedback_token(IID, user_id="mallory")
    for n in range(20):
        body = {"token": token, "type": "binary", "interaction_id": IID,
                "data": {"value": "thumbs_down"}, "client_key": f"fresh-{n}"}  # fmt: skip
        assert api.post("/feedback", json=body).status_code == 201
    other = logger.feedback_token(IID, user_id="alice")
    body = {"token": other, "type": "binary", "interaction_id": IID,
            "data": {"value": "thumbs_up"}, "client_key": "k"}  # fmt: skip
    assert api.post("/feedback", json=body).status_code == 201
    assert logger.flush()
    assert len(logger.query_feedback()) == 21
    stats = logger.get_feedback_stats()
    assert stats.binary is not None
    assert (stats.binary.thumbs_up, stats.binary.thumbs_down) == (1, 1)
    mallory = get_analytics(logger.store, FeedbackFilter(user_id="mallory")).stats
    assert mallory.binary is not None
    assert (mallory.total_feedback, mallory.binary.thumbs_down) == (1, 1)
    assert main(["stats", "--data-dir", str(tmp_path / "data"), "--user", "mallory", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_feedback"] == 1
