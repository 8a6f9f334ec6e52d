"""``rlhf-otel serve``: the feedback service for browsers, standalone on uvicorn."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import Any

from rlhf_otel._env import FEEDBACK_SECRET
from rlhf_otel.cli._webflags import add_server_flags, allowed_hosts, server_limits

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``serve`` to an argparse subparsers object."""
    p = subparsers.add_parser(
        "serve",
        help="run the feedback service (POST /feedback, /widget.js) for browsers",
        description=(
            "Serve the feedback endpoint and widget on uvicorn, writing to a store. The token "
            f"secret comes from {FEEDBACK_SECRET}."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--backend", choices=("local", "memory", "zerodb"), default="local")
    p.add_argument("--data-dir", default="./rlhf-data", help="local store (default ./rlhf-data)")
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="an origin allowed to call cross-origin, e.g. https://chat.example.com "
        "(repeatable; default same origin only)",
    )
    p.add_argument("--source", default="web", help="source stamped on records (default web)")
    p.add_argument(
        "--trust-forwarded",
        action="store_true",
        help="client address from X-Forwarded-For (only behind your own proxy)",
    )
    p.add_argument(
        "--trusted-proxies",
        type=int,
        default=1,
        metavar="N",
        help="with --trust-forwarded, how many proxies you run in front (default 1): the "
        "client is the N-th X-Forwarded-For hop from the right",
    )
    add_server_flags(p)
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info"))
    p.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    if not os.environ.get(FEEDBACK_SECRET):
        print(
            f"rlhf-otel serve: error: set {FEEDBACK_SECRET} to the secret your app signs "
            "feedback tokens with",
            file=sys.stderr,
        )
        return 2
    try:
        from rlhf_otel.web import feedback_app, serve
    except ImportError as exc:
        print(f"rlhf-otel serve: error: {exc}", file=sys.stderr)
        return 2
    from rlhf_otel import create_rlhf_logger

    # the service's own lines (a client that hung up, a connection closed on a deadline)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")

    options: dict[str, Any] = {"backend": args.backend, "enable_session_tracking": False}
    if args.backend == "local":
        options["data_dir"] = args.data_dir
    with create_rlhf_logger(**options) as logger:
        app = feedback_app(
            logger,
            allow_origins=tuple(args.allow_origin),
            source=args.source,
            trust_forwarded=args.trust_forwarded,
            trusted_proxies=args.trusted_proxies,
            allowed_hosts=allowed_hosts(args),
        )
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: a clean stop, store flushed
            serve(
                app,
                host=args.host,
                port=args.port,
                log_level=args.log_level,
                **server_limits(args),
            )
    return 0
