"""Flags every server command shares: allowed hosts, read deadlines, connection cap."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_server_flags", "allowed_hosts", "server_limits"]


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0; got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1; got {text}")
    return value


def add_server_flags(parser: argparse.ArgumentParser) -> None:
    """``--allowed-hosts``, ``--header-timeout``, ``--body-timeout``, ``--max-connections``."""
    parser.add_argument(
        "--allowed-hosts",
        action="append",
        default=[],
        metavar="NAMES",
        help="Host names answered besides the bound address (and localhost on loopback), "
        "comma-separated or repeated, e.g. feedback.example.com; '.example.com' a domain, "
        "'*' any; other Host headers get 421",
    )
    parser.add_argument(
        "--header-timeout",
        type=_seconds,
        default=10.0,
        help="close a connection whose request headers take longer (seconds, default 10)",
    )
    parser.add_argument(
        "--body-timeout",
        type=_seconds,
        default=30.0,
        help="close a connection whose request body takes longer (seconds, default 30)",
    )
    parser.add_argument(
        "--max-connections",
        type=_count,
        default=500,
        help="open connections at most; more are answered 503 (default 500)",
    )


def allowed_hosts(args: argparse.Namespace) -> tuple[str, ...]:
    """The ``--allowed-hosts`` names, split on commas."""
    return tuple(n.strip() for v in args.allowed_hosts for n in v.split(",") if n.strip())


def server_limits(args: argparse.Namespace) -> dict[str, Any]:
    """``header_timeout``, ``body_timeout`` and ``max_connections`` from the flags."""
    return {
        "header_timeout": args.header_timeout,
        "body_timeout": args.body_timeout,
        "max_connections": args.max_connections,
    }
