"""Run an ASGI app on uvicorn: in the foreground, or in a thread (tests, examples)."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Final

import uvicorn
from starlette.types import ASGIApp

from rlhf_otel.web._protocol import guarded_protocol

__all__ = ["running_server", "serve"]

HEADER_TIMEOUT: Final = 10.0
BODY_TIMEOUT: Final = 30.0
MAX_CONNECTIONS: Final = 500


def _config(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    header_timeout: float = HEADER_TIMEOUT,
    body_timeout: float = BODY_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
    **options: Any,
) -> uvicorn.Config:
    settings: dict[str, Any] = {
        "log_level": "warning",
        "server_header": False,
        "proxy_headers": False,
        "lifespan": "off",
        "http": guarded_protocol(header_timeout, body_timeout, max_connections),
    }
    settings.update(options)
    return uvicorn.Config(app, host=host, port=port, **settings)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def serve(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
    """Serve ``app`` with uvicorn until interrupted (loopback only unless ``host`` says so).

    A connection is closed when its request headers are not complete ``header_timeout``
    seconds (default 10) after it opened or after the previous answer, or its body
    ``body_timeout`` seconds (default 30) after the headers; past ``max_connections``
    (default 500) open connections, a new one is answered 503 and closed. Give them, and
    any other ``uvicorn.Config`` option (e.g. ``log_level="info"``), in ``options``.
    After a graceful shutdown, SIGTERM leaves as ``SystemExit(0)`` and Ctrl-C as
    ``KeyboardInterrupt`` (uvicorn re-raises the signal), so the caller's ``with logger:``
    still flushes.
    """
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    uvicorn.Server(_config(app, host, port, **options)).run()


@contextlib.contextmanager
def running_server(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> Iterator[str]:
    """``with running_server(app) as url:`` ``app`` on uvicorn in a thread; yields its base
    URL (``port=0`` picks a free port) and stops the server on exit. ``options`` as for
    :func:`serve`."""
    # proto set explicitly: asyncio enables TCP_NODELAY only on sockets that say IPPROTO_TCP
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(_config(app, host, sock.getsockname()[1], **options))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="rlhf-web", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
