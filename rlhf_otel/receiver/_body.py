"""Reading request bodies within the limits, and writing replies, for the receiver's handler."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Final, Protocol

from rlhf_otel._hosts import HostAllowList, guard_headers
from rlhf_otel.receiver._config import Budget, ReceiverConfig
from rlhf_otel.receiver._decode import (
    CONTENT_JSON,
    CONTENT_PROTOBUF,
    Busy,
    encode_response,
    encode_status,
)

__all__ = ["RPC_INVALID_ARGUMENT", "RPC_UNAVAILABLE", "BodyHandler", "DeadlineReader"]

_MIB: Final = 1024 * 1024
# A refused body is still read (and thrown away) up to this much, so the client, which sends
# it all before reading the answer, gets the answer instead of a connection reset.
_DRAIN_BYTES: Final = 64 * _MIB
_DRAIN_SECONDS: Final = 10.0
# google.rpc.Code values for the Status body of error responses.
RPC_INVALID_ARGUMENT: Final = 3
RPC_UNAVAILABLE: Final = 14


class DeadlineReader(io.RawIOBase):
    """A socket's reading side that raises ``TimeoutError`` once ``deadline`` passes, so a
    client sending one byte at a time cannot hold a connection (the socket timeout alone
    restarts with every byte)."""

    def __init__(self, sock: socket.socket, idle: float) -> None:
        super().__init__()
        self.sock = sock
        self.idle = idle
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.deadline is None:
            return self.sock.recv_into(buffer)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request not received in time")
        self.sock.settimeout(min(left, self.idle))
        try:
            return self.sock.recv_into(buffer)
        finally:
            self.sock.settimeout(self.idle)


class _Owner(Protocol):
    config: ReceiverConfig
    _budget: Budget
    _hosts: HostAllowList

    def _count_response(self, status: int) -> None: ...


class BodyHandler(BaseHTTPRequestHandler):
    """Body reading under the size limits and the shared budget, and the reply helpers."""

    protocol_version = "HTTP/1.1"
    _body_read = True
    _held = 0
    _reader: DeadlineReader | None = None

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the stock reader holds a reference that defers the socket's close
        self._reader = DeadlineReader(self.connection, float(self.timeout or 60))
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._set_deadline(self._owner().config.header_timeout)
        super().handle_one_request()

    def _set_deadline(self, seconds: float | None) -> None:
        if self._reader is not None:
            self._reader.deadline = None if seconds is None else time.monotonic() + seconds

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        for key, value in guard_headers([]):
            self.send_header(key.decode(), value.decode())

    def _host_allowed(self) -> bool:
        """Answer 421 (and close) unless the ``Host`` header is allowed."""
        hosts = self._owner()._hosts
        host = self.headers.get("Host")
        try:
            local = self.connection.getsockname()[:2]
        except OSError:
            local = None
        if hosts.allows(host, local):
            return True
        body = json.dumps({"error": "misdirected", "detail": hosts.refusal(host or "")})
        self._send(421, "application/json", body.encode(), close=True)
        return False

    def _owner(self) -> _Owner:
        owner: _Owner = self.server.receiver  # type: ignore[attr-defined]  # set by start()
        return owner

    def handle_expect_100(self) -> bool:
        """Refuse an over-limit body before the client sends it."""
        limit = self._owner().config.max_body_bytes
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > limit:
            self._body_read = False
            self._error(
                413,
                self._media(),
                RPC_INVALID_ARGUMENT,
                f"body of {length} bytes is over the {limit}-byte limit",
                close=True,
            )
            return False
        return super().handle_expect_100()

    def _media(self) -> str:
        media = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        return media if media in (CONTENT_PROTOBUF, CONTENT_JSON) else CONTENT_PROTOBUF

    def _hold(self, n: int) -> bool:
        if not self._owner()._budget.take(n):
            return False
        self._held += n
        return True

    def _release(self) -> None:
        if self._held:
            self._owner()._budget.give(self._held)
            self._held = 0

    def _reserve(self, n: int) -> None:
        if not self._hold(n):
            raise Busy

    def _busy(self, media: str) -> None:
        self._error(
            503,
            media,
            RPC_UNAVAILABLE,
            "receiver is holding its limit of request bodies; retry later",
            retry=True,
        )

    def _drain(self, remaining: int | None) -> None:
        """Read and discard what is left of a refused body (``None``: chunked), bounded."""
        deadline = time.monotonic() + _DRAIN_SECONDS
        budget = _DRAIN_BYTES
        with contextlib.suppress(OSError, ValueError):
            self.connection.settimeout(_DRAIN_SECONDS)
            if remaining is None:
                self._discard_chunks(budget, deadline)
                return
            while remaining > 0 and budget > 0 and time.monotonic() < deadline:
                got = self.rfile.read1(min(remaining, 1 << 16, budget))
                if not got:
                    return
                remaining -= len(got)
                budget -= len(got)

    def _discard_chunks(self, budget: int, deadline: float) -> None:
        while budget > 0 and time.monotonic() < deadline:
            line = self.rfile.readline(1024)
            if not line:
                return
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return
            while size > 0 and budget > 0:
                got = self.rfile.read1(min(size, 1 << 16))
                if not got:
                    return
                size -= len(got)
                budget -= len(got)
            self.rfile.readline(1024)

    def _read_body(self, media: str) -> bytes | None:
        limit = self._owner().config.max_body_bytes
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(media, limit)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self._plain(411, "Content-Length or chunked Transfer-Encoding is required", close=True)
            return None
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if length < 0:
            self._plain(400, f"bad Content-Length {length_header!r}", close=True)
            return None
        if length > limit:
            self._error(
                413,
                media,
                RPC_INVALID_ARGUMENT,
                f"body of {length} bytes is over the {limit}-byte limit",
                close=True,
            )
            self._drain(length)
            return None
        if not self._hold(length):
            self._busy(media)
            self._drain(length)
            return None
        body = self.rfile.read(length)
        self._body_read = True
        if len(body) != length:
            self.close_connection = True
            return None
        return body

    def _read_chunked(self, media: str, limit: int) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                self._plain(400, "malformed chunked body", close=True)
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                self._body_read = True
                return b"".join(parts)
            total += size
            if total > limit:
                self._error(
                    413,
                    media,
                    RPC_INVALID_ARGUMENT,
                    f"body is over the {limit}-byte limit",
                    close=True,
                )
                self._finish_chunk(size)
                self._drain(None)
                return None
            if not self._hold(size):
                self._busy(media)
                self._finish_chunk(size)
                self._drain(None)
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _finish_chunk(self, size: int) -> None:
        with contextlib.suppress(OSError, ValueError):
            while size > 0:
                got = self.rfile.read1(min(size, 1 << 16))
                if not got:
                    return
                size -= len(got)
            self.rfile.readline(1024)

    def _ok(self, media: str, rejected: int, message: str) -> None:
        self._send(200, media, encode_response(media, rejected, message))

    def _error(
        self,
        status: int,
        media: str,
        code: int,
        message: str,
        *,
        retry: bool = False,
        close: bool = False,
    ) -> None:
        extra = {"Retry-After": str(self._owner().config.retry_after)} if retry else {}
        self._send(status, media, encode_status(media, code, message), extra=extra, close=close)

    def _plain(
        self,
        status: int,
        message: str,
        *,
        extra: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        self._send(status, "text/plain; charset=utf-8", message.encode(), extra=extra, close=close)

    def _send(
        self,
        status: int,
        content_type: str,
        body: bytes,
        *,
        extra: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        self._owner()._count_response(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        if close or not self._body_read:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)
