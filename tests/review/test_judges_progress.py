"""The review app's progress view carries judge-vs-people agreement."""

from __future__ import annotations

from datetime import timedelta

from rlhf_otel import RLHFLogger
from rlhf_otel.review import ReviewService, default_queue
from tests.feedback_data import T0, interaction, thumbs


def test_progress_has_judge_agreement(logger: RLHFLogger) -> None:
    """progress() lists each judge's agreement with people per rubric item."""
    its = [interaction(f"i{k}", "q", f"a{k}", T0 + timedelta(minutes=k)) for k in range(6)]
    people = [thumbs(f"h{k}", f"i{k}", True, T0, user_id="p1") for k in range(6)]
    judge = [thumbs(f"j{k}", f"i{k}", k != 0, T0, user_id="helpful@1", source="model")
             for k in range(6)]  # fmt: skip
    logger.store.write(its, people + judge)
    service = ReviewService(logger, default_queue())
    (row,) = service.progress()["judges"]
    assert (row["judge"], row["kind"], row["items"]) == ("helpful@1", "binary", 6)
    assert row["percent_agreement"] == 5 / 6
    assert row["confusion"] == {"thumbs_down": {"thumbs_up": 1}, "thumbs_up": {"thumbs_up": 5}}
