"""``rlhf-otel review``: serve the review app on a local store."""

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


def register(subparsers: Any) -> None:
    """Add ``review`` to an argparse subparsers object."""
    p = subparsers.add_parser("review", help="serve the review app (rate, compare, correct)")
    p.add_argument("--data-dir", default=os.environ.get(DATA_DIR, "./rlhf-data"))
    p.add_argument("--queue", help="queue file (YAML or JSON; see docs/review.md)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8600)
    p.add_argument(
        "--token", default=None, help=f"shared reviewer token (default: ${REVIEW_TOKEN})"
    )
    add_server_flags(p)
    p.set_defaults(handler=_run)


def _fail(message: str) -> int:
    sys.stderr.write(f"rlhf-otel: error: {message}\n")
    return 2


def _run(args: argparse.Namespace) -> int:
    from rlhf_otel.review import default_queue, load_queue

    try:
        spec = load_queue(args.queue) if args.queue else default_queue()
    except (ValidationError, OSError) as exc:
        return _fail(str(exc).splitlines()[0])
    if not os.path.isdir(args.data_dir):
        return _fail(f"cannot read store: {args.data_dir} is not a directory (set --data-dir)")
    try:
        from rlhf_otel.review import review_app
        from rlhf_otel.web import serve
    except ImportError as exc:
        return _fail(str(exc))
    from rlhf_otel.review import ReviewService

    token = args.token or os.environ.get(REVIEW_TOKEN) or None
    with create_rlhf_logger(backend="local", data_dir=args.data_dir) as logger:
        started = time.perf_counter()
        service = ReviewService(logger, spec, token=token)
        progress = service.book.progress()
        print(
            f"rlhf-otel review: queue {spec.name!r}, {progress['items']} items "
            f"({progress['reviews']} of {progress['reviews_needed']} reviews done), built in "
            f"{time.perf_counter() - started:.1f} s; http://{args.host}:{args.port}/"
            + ("" if token else " (no reviewer token: anyone who can reach it may review)"),
            flush=True,
        )
        serve(
            review_app(service, allowed_hosts=allowed_hosts(args)),
            host=args.host,
            port=args.port,
            **server_limits(args),
        )
    return 0
