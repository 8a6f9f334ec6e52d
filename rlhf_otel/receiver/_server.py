"""``rlhf-otel collect``: an OTLP/HTTP trace receiver that writes records to a store.

Example::

    from rlhf_otel.stores import MemoryStore
    from rlhf_otel.receiver._server import OTLPReceiver, ReceiverConfig

    with OTLPReceiver(MemoryStore(), ReceiverConfig(port=0)) as receiver:
        print(receiver.endpoint)  # http://127.0.0.1:<port>/v1/traces
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import socket
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final

from rlhf_otel._errors import ConfigurationError
from rlhf_otel.receiver._decode import (
    CONTENT_JSON,
    CONTENT_PROTOBUF,
    BodyTooLarge,
    MalformedBody,
    decode_request,
    decompress,
    encode_response,
    encode_status,
    parse_request,
)
from rlhf_otel.receiver._writer import Batch, BatchState, StoreWriter
from rlhf_otel.stores import Store

__all__ = ["OTLPReceiver", "ReceiverConfig", "ReceiverStats"]

_logger = logging.getLogger("rlhf_otel.collect")
_MIB: Final = 1024 * 1024
# google.rpc.Code values for the Status body of error responses.
_RPC_INVALID_ARGUMENT: Final = 3
_RPC_RESOURCE_EXHAUSTED: Final = 8
_RPC_INTERNAL: Final = 13
_RPC_UNAVAILABLE: Final = 14
_RPC_UNAUTHENTICATED: Final = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverConfig:
    """How ``rlhf-otel collect`` listens and how much it takes at once.

    Args:
        host: interface to bind (default ``127.0.0.1``; anything else exposes the store).
        port: TCP port (default 4320, beside a local collector's 4317/4318; 0 picks one).
        token: when set, every request needs ``Authorization: Bearer <token>``.
        path: the trace export path (default ``/v1/traces``).
        max_body_bytes: largest request body as sent (default 16 MiB), else 413.
        max_decompressed_bytes: largest body after gzip/deflate (default 64 MiB), else 413.
        max_pending_records: records queued for the store at most (default 20,000); a
            request that would pass it gets 429 with ``Retry-After``.
        max_write_records: records per ``store.write`` at most (default 5,000).
        max_concurrent_requests: requests handled at once (default 64), else 503.
        retry_after: seconds sent in ``Retry-After`` on 429/503 (default 1); also how long
            new requests get 503 after the store failed a write.
        ack_timeout: seconds a request waits for its records to be written (default 10);
            past it, records not yet being written are withdrawn and the answer is 503.
    """

    host: str = "127.0.0.1"
    port: int = 4320
    token: str | None = None
    path: str = "/v1/traces"
    max_body_bytes: int = 16 * _MIB
    max_decompressed_bytes: int = 64 * _MIB
    max_pending_records: int = 20_000
    max_write_records: int = 5_000
    max_concurrent_requests: int = 64
    retry_after: int = 1
    ack_timeout: float = 10.0

    def __post_init__(self) -> None:
        for name in (
            "max_body_bytes",
            "max_decompressed_bytes",
            "max_pending_records",
            "max_write_records",
            "max_concurrent_requests",
            "retry_after",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a positive int; got {value!r}")
        port = self.port
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
            raise ConfigurationError(f"port must be an int in 0..65535; got {self.port!r}")
        if not self.ack_timeout > 0:
            raise ConfigurationError(f"ack_timeout must be > 0 seconds; got {self.ack_timeout!r}")
        if not self.path.startswith("/"):
            raise ConfigurationError(f"path must start with '/'; got {self.path!r}")
        if self.token is not None and not self.token.strip():
            raise ConfigurationError("token must be a non-empty string, or None for no auth")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverStats:
    """Counters since the receiver started.

    ``spans_ignored`` were accepted but carry no record (ordinary spans);
    ``spans_rejected`` were answered as partial success with a reason.
    """

    requests: int
    spans_received: int
    spans_ignored: int
    spans_rejected: int
    interactions_stored: int
    feedback_stored: int
    pending_records: int
    responses: dict[int, int]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: OTLPReceiver


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 60  # idle keep-alive connections do not hold a thread forever
    _body_read = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        if _logger.isEnabledFor(logging.DEBUG):
            _logger.debug("%s %s", self.client_address[0], format % args)

    def setup(self) -> None:
        super().setup()
        self.server.receiver._connections.add(self.connection)

    def finish(self) -> None:
        self.server.receiver._connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        """``/healthz``: liveness plus counters (token required when one is set)."""
        self._body_read = (self.headers.get("Content-Length") or "0").strip() == "0"
        if self.path.split("?", 1)[0] != "/healthz":
            return self._plain(404, f"not found: GET {self.path}; exports go to POST")
        if not self._authorized():
            return None
        stats = self.server.receiver.stats()
        body = {"status": "ok" if self.server.receiver._writer.healthy() else "store_failing"}
        body.update(_stats_dict(stats))
        return self._send(200, "application/json", json.dumps(body).encode())

    def do_POST(self) -> None:
        # Until the body is read, an answer must close the connection, or the unread body
        # would be taken for the next request.
        self._body_read = False
        receiver = self.server.receiver
        cfg = receiver.config
        if self.path.split("?", 1)[0] != cfg.path:
            return self._plain(404, f"not found: {self.path}; this receiver takes {cfg.path}")
        if not self._authorized():
            return None
        media = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if media not in (CONTENT_PROTOBUF, CONTENT_JSON):
            return self._plain(
                415, f"unsupported Content-Type {media!r}; use {CONTENT_PROTOBUF} or {CONTENT_JSON}"
            )
        encoding = self.headers.get("Content-Encoding") or ""
        if encoding.strip().lower() not in ("", "identity", "gzip", "x-gzip", "deflate"):
            return self._plain(415, f"unsupported Content-Encoding {encoding!r}; use gzip or none")
        if not receiver._slots.acquire(blocking=False):
            return self._error(
                503, media, _RPC_UNAVAILABLE, "too many concurrent requests", retry=True, close=True
            )
        try:
            self._export(media, encoding)
        finally:
            receiver._slots.release()

    def _export(self, media: str, encoding: str) -> None:
        receiver = self.server.receiver
        cfg = receiver.config
        body = self._read_body(media)
        if body is None:
            return
        receiver._count(requests=1)
        try:
            raw = decompress(body, encoding, cfg.max_decompressed_bytes)
            decoded = decode_request(parse_request(raw, media))
        except BodyTooLarge as exc:
            return self._error(413, media, _RPC_INVALID_ARGUMENT, str(exc))
        except MalformedBody as exc:
            return self._error(400, media, _RPC_INVALID_ARGUMENT, str(exc))
        except Exception:  # noqa: BLE001 - a decoder bug answers 500, never a reset
            _logger.exception("could not decode an export request")
            return self._error(500, media, _RPC_INTERNAL, "receiver failed to decode the request")
        receiver._count(
            spans_received=decoded.spans,
            spans_ignored=decoded.ignored_spans,
            spans_rejected=decoded.rejected_spans,
        )
        if not decoded.records:
            return self._ok(media, decoded.rejected_spans, decoded.error_message())
        if not receiver._writer.healthy():
            return self._error(503, media, _RPC_UNAVAILABLE, "store is failing writes", retry=True)
        batch = Batch(decoded.interactions, decoded.feedback)
        if not receiver._writer.submit(batch):
            return self._error(
                429, media, _RPC_RESOURCE_EXHAUSTED, "store queue is full", retry=True
            )
        state = receiver._writer.wait(batch, cfg.ack_timeout)
        if state is not BatchState.STORED:
            why = "store write timed out" if state is BatchState.CANCELLED else "store write failed"
            return self._error(503, media, _RPC_UNAVAILABLE, why, retry=True)
        receiver._count(
            interactions_stored=batch.stored_interactions,
            feedback_stored=batch.stored_feedback,
            spans_rejected=batch.rejected,
        )
        message = "; ".join(filter(None, [decoded.error_message(), *batch.reasons]))
        return self._ok(media, decoded.rejected_spans + batch.rejected, message)

    # ------------------------------------------------------------------ plumbing

    def _authorized(self) -> bool:
        token = self.server.receiver.config.token
        if token is None:
            return True
        given = self.headers.get("Authorization") or ""
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), token.encode()
        ):
            return True
        self._plain(
            401, "missing or wrong bearer token", extra={"WWW-Authenticate": "Bearer"}, close=True
        )
        return False

    def _read_body(self, media: str) -> bytes | None:
        limit = self.server.receiver.config.max_body_bytes
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
                _RPC_INVALID_ARGUMENT,
                f"body of {length} bytes is over the {limit}-byte limit",
                close=True,
            )
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
                    _RPC_INVALID_ARGUMENT,
                    f"body is over the {limit}-byte limit",
                    close=True,
                )
                return None
            parts.append(self.rfile.read(size))
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
        extra = {"Retry-After": str(self.server.receiver.config.retry_after)} if retry else {}
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
        self.server.receiver._count_response(status)
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


def _stats_dict(stats: ReceiverStats) -> dict[str, Any]:
    out: dict[str, Any] = {k: getattr(stats, k) for k in ReceiverStats.__slots__}
    out["responses"] = {str(k): v for k, v in stats.responses.items()}
    return out


class OTLPReceiver:
    """An OTLP/HTTP trace receiver (protobuf and JSON, gzip) that writes records to a store.

    It keeps our interaction and feedback spans and GenAI-convention spans of other
    libraries (as interactions); other spans are accepted and ignored. A request is
    answered 200 only once its records are written, so nothing answered 200 is lost.

    Args:
        store: where records go; the receiver never closes it.
        config: listening address and limits (see :class:`ReceiverConfig`).
    """

    def __init__(self, store: Store, config: ReceiverConfig | None = None) -> None:
        self.config = config or ReceiverConfig()
        self.store = store
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._responses: Counter[int] = Counter()
        self._slots = threading.BoundedSemaphore(self.config.max_concurrent_requests)
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._writer = StoreWriter(
            store,
            max_pending=self.config.max_pending_records,
            max_write=self.config.max_write_records,
            unhealthy_for=float(self.config.retry_after),
        )

    def start(self) -> OTLPReceiver:
        """Bind and serve in a background thread; returns ``self``."""
        if self._server is not None:
            return self
        server = _Server((self.config.host, self.config.port), _Handler)
        server.receiver = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="rlhf-otel-collect-http",
            daemon=True,
        )
        self._thread.start()
        _logger.info("rlhf-otel collect listening on %s", self.endpoint)
        return self

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the port is the real one when 0 was asked for."""
        if self._server is None:
            raise RuntimeError("receiver is not started; call start() first")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def endpoint(self) -> str:
        """The URL to export traces to."""
        host, port = self.address
        return f"http://{host}:{port}{self.config.path}"

    def stats(self) -> ReceiverStats:
        """Counters so far."""
        with self._lock:
            c = self._counts
            return ReceiverStats(
                requests=c["requests"],
                spans_received=c["spans_received"],
                spans_ignored=c["spans_ignored"],
                spans_rejected=c["spans_rejected"],
                interactions_stored=c["interactions_stored"],
                feedback_stored=c["feedback_stored"],
                pending_records=self._writer.pending,
                responses=dict(self._responses),
            )

    def shutdown(self, timeout: float | None = 30.0) -> bool:
        """Stop taking requests, write what is queued, close connections.

        Returns:
            True if every queued record was written (or answered as failed) in time.
        """
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
        drained = self._writer.close(timeout)
        if server is not None:
            server.server_close()
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout)
        return drained

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def _count(self, **counts: int) -> None:
        with self._lock:
            self._counts.update(counts)

    def _count_response(self, status: int) -> None:
        with self._lock:
            self._responses[status] += 1
