"""The ``rlhf-otel collect`` subcommand: run the OTLP receiver in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, Final

from rlhf_otel import _env
from rlhf_otel._errors import ConfigurationError
from rlhf_otel.cli._webflags import add_server_flags, allowed_hosts, server_limits
from rlhf_otel.records import StorageBackend
from rlhf_otel.stores import MemoryStore, Store

__all__ = [
    "BACKENDS",
    "ENV_COLLECT_TOKEN",
    "main",
    "open_store",
    "receiver_config",
    "register",
    "run_collect",
]

ENV_COLLECT_TOKEN: Final = _env.COLLECT_TOKEN
"""Bearer token that ``rlhf-otel collect`` requires when set (kept out of ``ps`` output)."""
BACKENDS: Final = ("local", "zerodb", "memory")

_logger = logging.getLogger("rlhf_otel.collect")


def open_store(backend: str, data_dir: str | os.PathLike[str] | None = None) -> Store:
    """Open the store that ``collect`` writes to: the one place its backend is chosen.

    The same factories as the logger's, configured the same way (``RLHF_OTEL_DATA_DIR``,
    ``ZERODB_PROJECT_ID``, ``ZERODB_API_KEY``, ... ; see ``RLHFConfig``).

    Args:
        backend: ``"local"`` (JSONL files under ``data_dir``), ``"zerodb"``, or ``"memory"``
            (nothing kept after exit; for smoke tests and benchmarks).
        data_dir: the local store's directory; default ``$RLHF_OTEL_DATA_DIR`` or
            ``./rlhf-data``.

    Raises:
        ConfigurationError: unknown backend, or the backend's settings are incomplete.
    """
    if backend not in BACKENDS:
        raise ConfigurationError(
            f"unknown store backend {backend!r}; use one of {', '.join(BACKENDS)}"
        )
    if backend == "memory":
        return MemoryStore(max_entries=None)
    from rlhf_otel._config import RLHFConfig
    from rlhf_otel.stores import open_local_store, open_zerodb_store

    options: dict[str, Any] = {"backend": StorageBackend(backend)}
    if data_dir is not None:
        options["data_dir"] = os.fspath(data_dir)
    config = RLHFConfig.from_env(**options)
    return open_local_store(config) if backend == "local" else open_zerodb_store(config)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``collect`` subcommand to the CLI's ``add_subparsers()`` object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "collect",
        help="receive OTLP/HTTP traces and store their interactions and feedback",
        description=(
            "An OTLP/HTTP trace receiver (protobuf or JSON, gzip) for POST /v1/traces. It keeps "
            "rlhf-otel interaction and feedback spans and GenAI-convention spans of other "
            "libraries, writes them to a store, and answers per the OTLP spec. Point a "
            "collector's otlphttp exporter (or an app's OTLP exporter) at it. "
            f"Set {ENV_COLLECT_TOKEN} to require 'Authorization: Bearer <token>'."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4320, help="port (default 4320; 0: any)")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="store: local (JSONL files, default), zerodb, or memory",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="local store directory (default $RLHF_OTEL_DATA_DIR or ./rlhf-data)",
    )
    parser.add_argument(
        "--max-body-mib", type=float, default=16.0, help="largest request body (default 16)"
    )
    parser.add_argument(
        "--max-pending",
        type=int,
        default=20_000,
        help="records queued for the store before 429 (default 20000)",
    )
    parser.add_argument(
        "--retry-after", type=int, default=1, help="seconds in Retry-After on 429/503 (default 1)"
    )
    for flag, default, what in (
        ("--max-prompt-chars", 100_000, "prompt"),
        ("--max-response-chars", 100_000, "response"),
        ("--max-text-chars", 100_000, "comment, reason and context message"),
    ):
        parser.add_argument(
            flag,
            type=_limit,
            default=default,
            help=f"cut each {what} to this many characters, as the logger does "
            f"(default {default}; 0: no limit)",
        )
    parser.add_argument(
        "--max-context-messages",
        type=int,
        default=100,
        help="keep the most recent N context messages of an interaction (default 100)",
    )
    parser.add_argument(
        "--redact-secrets",
        action="store_true",
        help="replace e-mail addresses, API keys and card numbers in received texts "
        "(rlhf_otel.redact_secrets) before they are stored",
    )
    parser.add_argument(
        "--wait-for-logs",
        action="store_true",
        help="from the first span on, let model-call spans without content wait for their "
        "GenAI log records on /v1/logs (default: once a logs export was received)",
    )
    parser.add_argument(
        "--log-wait",
        type=float,
        default=5.0,
        help="seconds a span without content waits for its log records (default 5)",
    )
    parser.add_argument(
        "--trace-wait",
        type=float,
        default=30.0,
        help="seconds other libraries' spans wait for their trace's root span (default 30)",
    )
    add_server_flags(parser)
    parser.add_argument(
        "--log-level", default="INFO", help="logging level of rlhf_otel.collect (default INFO)"
    )
    parser.set_defaults(handler=run_collect)
    return parser


def _limit(text: str) -> int | None:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0; got {value}")
    return value or None


def receiver_config(args: argparse.Namespace, token: str | None) -> Any:
    """The :class:`ReceiverConfig` that ``collect``'s arguments describe."""
    from rlhf_otel._redact import redact_secrets
    from rlhf_otel.receiver import ReceiverConfig

    return ReceiverConfig(
        host=args.host,
        port=args.port,
        token=token,
        max_body_bytes=int(args.max_body_mib * 1024 * 1024),
        max_pending_records=args.max_pending,
        retry_after=args.retry_after,
        redact=(redact_secrets,) if args.redact_secrets else (),
        max_prompt_chars=args.max_prompt_chars,
        max_response_chars=args.max_response_chars,
        max_text_chars=args.max_text_chars,
        max_context_messages=args.max_context_messages,
        allowed_hosts=allowed_hosts(args),
        wait_for_logs=args.wait_for_logs,
        log_wait=args.log_wait,
        trace_wait=args.trace_wait,
        **server_limits(args),
    )


def run_collect(args: argparse.Namespace) -> int:
    """Run the receiver until SIGINT/SIGTERM, then write what is queued and close the store.

    Prints ``listening on <url>`` to stderr once it accepts connections.
    """
    from rlhf_otel.receiver import OTLPReceiver

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    token = os.environ.get(ENV_COLLECT_TOKEN) or None
    if args.host not in ("127.0.0.1", "localhost", "::1") and token is None:
        _logger.warning(
            "listening on %s without a token: anyone who can reach it can write", args.host
        )
    config = receiver_config(args, token)
    store = open_store(args.backend, args.data_dir)
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {
            sig: signal.signal(sig, lambda *_: stop.set())
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
    receiver = OTLPReceiver(store, config)
    try:
        receiver.start()
        print(f"listening on {receiver.endpoint}", file=sys.stderr, flush=True)
        stop.wait()
    finally:
        drained = receiver.shutdown()
        store.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stats = receiver.stats()
        _logger.info(
            "stopped: requests=%d spans=%d interactions=%d feedback=%d ignored=%d rejected=%d%s",
            stats.requests,
            stats.spans_received,
            stats.interactions_stored,
            stats.feedback_stored,
            stats.spans_ignored,
            stats.spans_rejected,
            "" if drained else " (the store queue did not drain in time)",
        )
    return 0 if drained else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rlhf_otel.cli._collect collect ...``: the subcommand on its own."""
    parser = argparse.ArgumentParser(prog="rlhf-otel")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigurationError as exc:
        parser.error(str(exc))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
