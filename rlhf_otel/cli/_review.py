"""``rlhf-otel review``: serve the review app on a local store; ``review-token``: mint a
reviewer's token."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from rlhf_otel._env import DATA_DIR, REVIEW_TOKEN
from rlhf_otel._errors import ValidationError
from rlhf_otel._logger import create_rlhf_logger
from rlhf_otel.cli._webflags import add_server_flags, allowed_hosts, server_limits

__all__ = ["register"]

_DEMO_QUEUE = "review-queue.yaml"
_SKIP_LOG = "review-skips.jsonl"


def register(subparsers: Any) -> None:
    """Add ``review`` and ``review-token`` to an argparse subparsers object."""
    p = subparsers.add_parser("review", help="serve the review app (rate, compare, correct)")
    p.add_argument("--data-dir", default=os.environ.get(DATA_DIR, "./rlhf-data"))
    p.add_argument(
        "--queue",
        help=f"queue file (YAML or JSON; see docs/review.md); default: DATA_DIR/{_DEMO_QUEUE} "
        "when it exists, else the default queue",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8600)
    p.add_argument(
        "--token", default=None, help=f"shared reviewer token (default: ${REVIEW_TOKEN})"
    )
    p.add_argument(
        "--reviewers",
        default=None,
        help="reviewers file: each reviewer signs in with their own token, which names them "
        "(write it with rlhf-otel review-token)",
    )
    p.add_argument(
        "--trusted-user-header",
        default=None,
        metavar="HEADER",
        help="take the reviewer from this header set by a proxy you run in front (e.g. "
        "X-Forwarded-User); only when the app is reachable through that proxy alone",
    )
    add_server_flags(p)
    p.set_defaults(handler=_run)
    t = subparsers.add_parser(
        "review-token", help="mint a reviewer's token into a reviewers file (printed once)"
    )
    t.add_argument("reviewer", help="the reviewer id stored with each of their reviews")
    t.add_argument("--reviewers", required=True, help="reviewers file (created owner-only)")
    t.add_argument(
        "--replace", action="store_true", help="give a reviewer already in the file a new token"
    )
    t.set_defaults(handler=_mint)


def _fail(message: str) -> int:
    sys.stderr.write(f"rlhf-otel: error: {message}\n")
    return 2


def _mint(args: argparse.Namespace) -> int:
    from rlhf_otel.review import mint_reviewer_token

    try:
        token = mint_reviewer_token(args.reviewers, args.reviewer, replace=args.replace)
    except (ValidationError, OSError) as exc:
        return _fail(str(exc).splitlines()[0])
    print(token)
    sys.stderr.write(
        f"rlhf-otel review-token: {args.reviewer} added to {args.reviewers}; give them the "
        "token above (shown once; the file keeps only its digest)\n"
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    from rlhf_otel.review import ReviewerTokens, default_queue, describe_funnel, load_queue

    if not os.path.isdir(args.data_dir):
        return _fail(f"cannot read store: {args.data_dir} is not a directory (set --data-dir)")
    queue_path = args.queue
    found = os.path.join(args.data_dir, _DEMO_QUEUE)
    if queue_path is None and os.path.isfile(found):
        queue_path = found
    try:
        spec = load_queue(queue_path) if queue_path else default_queue()
        reviewers = ReviewerTokens.load(args.reviewers) if args.reviewers else None
    except (ValidationError, OSError) as exc:
        return _fail(str(exc).splitlines()[0])
    try:
        from rlhf_otel.review import review_app
        from rlhf_otel.web import serve
    except ImportError as exc:
        return _fail(str(exc))
    from rlhf_otel.review import ReviewService

    token = args.token or os.environ.get(REVIEW_TOKEN) or None
    with create_rlhf_logger(backend="local", data_dir=args.data_dir) as logger:
        started = time.perf_counter()
        service = ReviewService(
            logger,
            spec,
            token=token,
            reviewers=reviewers,
            user_header=args.trusted_user_header,
            skip_log=os.path.join(args.data_dir, _SKIP_LOG),
        )
        progress = service.book.progress()
        if queue_path is None:
            print(
                "rlhf-otel review: no --queue given: serving the default queue (answers with "
                "no feedback yet; thumbs, a 1-5 rating and a comment or correction)",
                flush=True,
            )
        elif args.queue is None:
            print(f"rlhf-otel review: no --queue given: serving {queue_path}", flush=True)
        if not progress["items"]:
            print(
                f"rlhf-otel review: queue {spec.name!r} selected no items: "
                + describe_funnel(service.funnel()),
                flush=True,
            )
        access = {
            "proxy": f"reviewers named by the {args.trusted_user_header} header",
            "reviewers": f"{len(reviewers or ())} reviewer token(s) from {args.reviewers}",
            "shared": "shared reviewer token",
            "open": "no reviewer token: anyone who can reach it may review",
        }[service.auth_mode]
        print(
            f"rlhf-otel review: queue {spec.name!r}, {progress['items']} items "
            f"({progress['reviews']} of {progress['reviews_needed']} reviews done), built in "
            f"{time.perf_counter() - started:.1f} s; http://{args.host}:{args.port}/ "
            f"({access})",
            flush=True,
        )
        serve(
            review_app(service, allowed_hosts=allowed_hosts(args)),
            host=args.host,
            port=args.port,
            **server_limits(args),
        )
    return 0
