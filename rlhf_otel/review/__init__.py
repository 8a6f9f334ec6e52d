"""Review app: queues of answers for reviewers to rate, compare and correct (``rlhf-otel review``).

Example::

    from rlhf_otel import create_rlhf_logger
    from rlhf_otel.review import ReviewService, load_queue, review_app
    from rlhf_otel.web import serve

    logger = create_rlhf_logger(backend="local", data_dir="./rlhf-data")
    service = ReviewService(logger, load_queue("queue.yaml"), token="shared-secret")
    serve(review_app(service), port=8600)

Every review is ordinary feedback (``source="review"``, ``user_id`` = the reviewer,
``metadata={"queue": name, "item": key, ...}``). Queue files, views and keys:
``docs/review.md``. The app (``review_app``) needs the ``web`` extra; the rest does not.
"""

from __future__ import annotations

from typing import Any

from rlhf_otel.review._access import (
    ReviewerTokens,
    SignInLimiter,
    mint_reviewer_token,
    token_digest,
)
from rlhf_otel.review._build import (
    REVIEW_SOURCE,
    Item,
    build_queue,
    describe_funnel,
    item_key,
    queue_funnel,
    select_items,
)
from rlhf_otel.review._judge_agreement import JudgeAgreement, judge_agreement
from rlhf_otel.review._judged import pair_verdict
from rlhf_otel.review._leases import Lease, LeaseBook, LeaseConflict
from rlhf_otel.review._service import ReviewService
from rlhf_otel.review._spec import (
    SELECTION_KEYS,
    Guide,
    QueueSpec,
    Rubric,
    Selection,
    default_queue,
    load_queue,
    parse_queue,
    parse_selection,
)
from rlhf_otel.review._summary import agreement_of, judgements, queue_summary, review_summary

__all__ = [
    "Guide",
    "Item",
    "JudgeAgreement",
    "Lease",
    "LeaseBook",
    "LeaseConflict",
    "QueueSpec",
    "REVIEW_SOURCE",
    "ReviewService",
    "ReviewerTokens",
    "Rubric",
    "SELECTION_KEYS",
    "Selection",
    "SignInLimiter",
    "agreement_of",
    "build_queue",
    "default_queue",
    "describe_funnel",
    "item_key",
    "judge_agreement",
    "judgements",
    "load_queue",
    "mint_reviewer_token",
    "pair_verdict",
    "parse_queue",
    "parse_selection",
    "queue_funnel",
    "queue_summary",
    "review_app",
    "review_summary",
    "select_items",
    "token_digest",
]


def __getattr__(name: str) -> Any:
    # The app needs the web extra; everything else here works without it.
    if name == "review_app":
        try:
            from rlhf_otel.review._app import review_app
        except ImportError as exc:
            raise ImportError(
                "the review app needs the web extra: pip install 'rlhf-otel[web]'"
            ) from exc
        return review_app
    raise AttributeError(f"module 'rlhf_otel.review' has no attribute {name!r}")
