"""uvicorn's h11 protocol with a header deadline, a body deadline and a connection cap.

uvicorn times out idle keep-alive connections only: a client that sends its headers one
byte at a time (slowloris) holds a connection forever. This protocol closes a connection
whose request headers are not complete ``header_timeout`` seconds after it opened (or after
the previous answer), or whose body is not complete ``body_timeout`` seconds after its
headers, and answers 503 to connections past ``max_connections``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Final

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["guarded_protocol"]

_log = logging.getLogger("rlhf_otel.web")
_BUSY: Final = json.dumps(
    {"error": "unavailable", "detail": "too many open connections; retry later"}
).encode()
_BUSY_RESPONSE: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"retry-after: 1\r\nconnection: close\r\ncontent-length: "
    + str(len(_BUSY)).encode()
    + b"\r\n\r\n"
    + _BUSY
)


class _GuardedH11(H11Protocol):
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 500

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_body = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            _log.warning(
                "refused a connection from %s: %d connections open (max_connections)",
                self.client[0] if self.client else "unknown",
                len(self.connections) - 1,
            )
            transport.write(_BUSY_RESPONSE)
            transport.close()
            return
        self._arm(self.header_timeout, False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:
            self._disarm()
            if self.conn.their_state is h11.SEND_BODY:
                self._arm(self.body_timeout, True)
        elif self._waiting_body and self.conn.their_state is not h11.SEND_BODY:
            if self.cycle is not None and self.cycle.response_complete:
                # answered before the body ended: the next request's headers are due now
                self._arm(self.header_timeout, False)
            else:
                self._disarm()

    def on_response_complete(self) -> None:
        # armed first: a pipelined request handled inside super() disarms it again
        if not self._waiting_body or self.conn.their_state is not h11.SEND_BODY:
            self._arm(self.header_timeout, False)
        super().on_response_complete()

    def _arm(self, seconds: float, body: bool) -> None:
        self._disarm()
        self._waiting_body = body
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._waiting_body = False

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        what = "body" if self._waiting_body else "headers"
        limit = self.body_timeout if self._waiting_body else self.header_timeout
        # an idle keep-alive connection is routine; a half-sent request is worth a line
        partial = self._waiting_body or bool(self.conn.trailing_data[0])
        _log.log(
            logging.INFO if partial else logging.DEBUG,
            "closed a connection from %s: request %s not complete within %g s",
            self.client[0] if self.client else "unknown",
            what,
            limit,
        )
        self.transport.close()


def guarded_protocol(
    header_timeout: float, body_timeout: float, max_connections: int
) -> type[H11Protocol]:
    """The protocol class to give ``uvicorn.Config(http=...)`` for these limits."""
    for name, value in (("header_timeout", header_timeout), ("body_timeout", body_timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a number of seconds > 0; got {value!r}")
    if (
        isinstance(max_connections, bool)
        or not isinstance(max_connections, int)
        or (max_connections < 1)
    ):
        raise ValueError(f"max_connections must be an int >= 1; got {max_connections!r}")
    return type(
        "GuardedH11Protocol",
        (_GuardedH11,),
        {
            "header_timeout": float(header_timeout),
            "body_timeout": float(body_timeout),
            "max_connections": max_connections,
        },
    )
