"""``rlhf-otel collect``: an OTLP/HTTP trace receiver that writes records to a store.

Example::

    from rlhf_otel.stores import MemoryStore
    from rlhf_otel.receiver._server import OTLPReceiver, ReceiverConfig

    with OTLPReceiver(MemoryStore(), ReceiverConfig(port=0)) as receiver:
        print(receiver.endpoint)  # http://127.0.0.1:<port>/v1/traces
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import json
import logging
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final

from rlhf_otel._hosts import HostAllowList
from rlhf_otel._redact import ContentPolicy
from rlhf_otel.receiver._body import RPC_INVALID_ARGUMENT, RPC_UNAVAILABLE, BodyHandler
from rlhf_otel.receiver._config import Budget, ReceiverConfig, ReceiverStats
from rlhf_otel.receiver._decode import (
    CONTENT_JSON,
    CONTENT_PROTOBUF,
    BodyTooLarge,
    Busy,
    Decoded,
    MalformedBody,
    decode_request,
    decompress,
    parse_request,
)
from rlhf_otel.receiver._logs import decode_logs, encode_logs_response, parse_logs_request
from rlhf_otel.receiver._policy import apply_policy
from rlhf_otel.receiver._writer import Batch, BatchState, StoreWriter
from rlhf_otel.recording import Assembled, EventView, TraceAssembler, decode_span
from rlhf_otel.records import Interaction
from rlhf_otel.stores import Store

__all__ = ["OTLPReceiver", "ReceiverConfig", "ReceiverStats"]

_logger = logging.getLogger("rlhf_otel.collect")
_DISCONNECTS: Final = (ConnectionError, TimeoutError, socket.timeout)
# google.rpc.Code values for the Status body of error responses.
_RPC_RESOURCE_EXHAUSTED: Final = 8
_RPC_INTERNAL: Final = 13
_BUSY: Final = b'{"error": "unavailable", "detail": "too many open connections; retry later"}'
_BUSY_RESPONSE: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: " + str(len(_BUSY)).encode() + b"\r\n\r\n" + _BUSY
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The stock backlog of 5 overflows when dozens of exporters connect at once, and the
    # kernel then resets connections before any handler sees them.
    request_queue_size = 256
    receiver: OTLPReceiver

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Past ``max_connections`` open connections, answer 503 and close (no thread)."""
        receiver = self.receiver
        with receiver._lock:
            if len(receiver._open) < receiver.config.max_connections:
                receiver._open.add(request)
                return True
        _logger.warning(
            "refused a connection from %s: %d connections open (max_connections)",
            client_address[0],
            len(receiver._open),
        )
        with contextlib.suppress(OSError):
            request.settimeout(1.0)
            request.sendall(_BUSY_RESPONSE)
        return False

    def shutdown_request(self, request: Any) -> None:
        with self.receiver._lock:
            self.receiver._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is a DEBUG line; anything else is logged, not printed."""
        exc = sys.exc_info()[1]
        if isinstance(exc, _DISCONNECTS) or (
            isinstance(exc, OSError) and exc.errno in (errno.EPIPE, errno.ECONNRESET)
        ):
            _logger.debug("client %s went away: %s", client_address[0], exc)
            return
        _logger.error("error handling a request from %s", client_address[0], exc_info=True)


class _Handler(BodyHandler):
    server: _Server
    timeout = 60  # idle keep-alive connections do not hold a thread forever

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        if _logger.isEnabledFor(logging.DEBUG):
            _logger.debug("%s %s", self.client_address[0], format % args)

    def setup(self) -> None:
        super().setup()
        self.server.receiver._connections.add(self.connection)
        self._held = 0

    def finish(self) -> None:
        self.server.receiver._connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        """``/healthz``: liveness plus counters (token required when one is set)."""
        self._body_read = (self.headers.get("Content-Length") or "0").strip() == "0"
        if not self._host_allowed():
            return None
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
        self._set_deadline(cfg.body_timeout)
        if not self._host_allowed():
            return None
        path = self.path.split("?", 1)[0]
        if path not in (cfg.path, cfg.logs_path):
            return self._plain(
                404, f"not found: {self.path}; this receiver takes {cfg.path} and {cfg.logs_path}"
            )
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
                503, media, RPC_UNAVAILABLE, "too many concurrent requests", retry=True, close=True
            )
        try:
            if path == cfg.logs_path:
                self._export_logs(media, encoding)
            else:
                self._export(media, encoding)
        finally:
            self._release()
            receiver._slots.release()

    def _export(self, media: str, encoding: str) -> None:
        receiver = self.server.receiver
        cfg = receiver.config
        body = self._read_body(media)
        if body is None:
            return
        receiver._count(requests=1)
        try:
            raw = decompress(body, encoding, cfg.max_decompressed_bytes, self._reserve)
            del body
            decoded = decode_request(parse_request(raw, media), receiver._assembler)
            del raw
        except BodyTooLarge as exc:
            return self._error(413, media, RPC_INVALID_ARGUMENT, str(exc))
        except Busy:
            return self._busy(media)
        except MalformedBody as exc:
            return self._error(400, media, RPC_INVALID_ARGUMENT, str(exc))
        except Exception:  # noqa: BLE001 - a decoder bug answers 500, never a reset
            _logger.exception("could not decode an export request")
            return self._error(500, media, _RPC_INTERNAL, "receiver failed to decode the request")
        receiver._count(
            spans_received=decoded.spans,
            spans_ignored=decoded.ignored_spans,
            spans_rejected=decoded.rejected_spans,
            **{f"skipped:{reason}": n for reason, n in decoded.skipped.items()},
        )
        self._store_decoded(media, decoded)

    def _export_logs(self, media: str, encoding: str) -> None:
        """``/v1/logs``: GenAI content records joined to their spans (same limits, auth,
        redaction); other log records are accepted and ignored."""
        receiver = self.server.receiver
        cfg = receiver.config
        body = self._read_body(media)
        if body is None:
            return
        receiver._count(requests=1)
        try:
            raw = decompress(body, encoding, cfg.max_decompressed_bytes, self._reserve)
            del body
            logs = decode_logs(parse_logs_request(raw, media))
            del raw
        except BodyTooLarge as exc:
            return self._error(413, media, RPC_INVALID_ARGUMENT, str(exc))
        except Busy:
            return self._busy(media)
        except MalformedBody as exc:
            return self._error(400, media, RPC_INVALID_ARGUMENT, str(exc))
        except Exception:  # noqa: BLE001 - a decoder bug answers 500, never a reset
            _logger.exception("could not decode a logs export request")
            return self._error(500, media, _RPC_INTERNAL, "receiver failed to decode the request")
        receiver._count(log_records_received=logs.received, log_records_ignored=logs.ignored)
        receiver._assembler.expect_logs = True
        settled = receiver._assembler.logs(logs.records)
        decoded = Decoded(interactions=settled.interactions, feedback=settled.feedback)
        self._store_decoded(media, decoded, logs=True)

    def _store_decoded(self, media: str, decoded: Decoded, logs: bool = False) -> None:
        receiver = self.server.receiver
        cfg = receiver.config
        ok = (lambda: self._send(200, media, encode_logs_response(media))) if logs else None
        if not decoded.records:
            return ok() if ok else self._ok(media, decoded.rejected_spans, decoded.error_message())
        decoded.interactions, decoded.feedback, refused = apply_policy(
            receiver._content, decoded.interactions, decoded.feedback
        )
        for reason in refused:
            decoded.reject(1, reason)
        receiver._count(spans_rejected=len(refused))
        if not decoded.records:
            return ok() if ok else self._ok(media, decoded.rejected_spans, decoded.error_message())
        if not receiver._writer.healthy():
            return self._error(503, media, RPC_UNAVAILABLE, "store is failing writes", retry=True)
        batch = Batch(decoded.interactions, decoded.feedback)
        if not receiver._writer.submit(batch):
            return self._error(
                429, media, _RPC_RESOURCE_EXHAUSTED, "store queue is full", retry=True
            )
        state = receiver._writer.wait(batch, cfg.ack_timeout)
        if state is not BatchState.STORED:
            why = "store write timed out" if state is BatchState.CANCELLED else "store write failed"
            return self._error(503, media, RPC_UNAVAILABLE, why, retry=True)
        receiver._count(
            interactions_stored=batch.stored_interactions,
            feedback_stored=batch.stored_feedback,
            spans_rejected=batch.rejected,
        )
        if ok is not None:
            return ok()
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
        self._budget = Budget(self.config.max_inflight_bytes)
        cfg = self.config
        self._content = ContentPolicy(
            cfg.redact,
            max_prompt_chars=cfg.max_prompt_chars,
            max_response_chars=cfg.max_response_chars,
            max_context_messages=cfg.max_context_messages,
            max_text_chars=cfg.max_text_chars,
        )
        self._connections: set[socket.socket] = set()
        self._open: set[Any] = set()
        self._hosts = HostAllowList(self.config.allowed_hosts)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._writer = StoreWriter(
            store,
            max_pending=self.config.max_pending_records,
            max_write=self.config.max_write_records,
            unhealthy_for=float(self.config.retry_after),
        )
        self._assembler = TraceAssembler(
            self._decode_foreign,
            self._store_settled,
            content_wait=cfg.log_wait,
            trace_wait=cfg.trace_wait,
        )
        self._assembler.expect_logs = cfg.wait_for_logs

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
                truncated=self._content.truncated,
                spans_skipped={k[8:]: v for k, v in c.items() if k.startswith("skipped:")},
                log_records_received=c["log_records_received"],
                log_records_ignored=c["log_records_ignored"],
                foreign_waits=self._assembler.gave_up.snapshot(),
                foreign_held=self._assembler.pending,
            )

    def _decode_foreign(
        self, span: Any, joined: Sequence[EventView]
    ) -> tuple[Interaction | None, str | None]:
        found = decode_span(span, joined=joined)
        if found.skipped is not None:
            self._count(**{f"skipped:{found.skipped}": 1})
        return found.interaction, found.kind

    def _store_settled(self, settled: Assembled) -> None:
        """Records the assembler settled on its own (a wait ran out): written in the
        background, counted as stored once the store took them."""
        interactions, feedback, refused = apply_policy(
            self._content, settled.interactions, settled.feedback
        )
        self._count(spans_rejected=len(refused))
        if not interactions and not feedback:
            return
        batch = Batch(interactions, feedback)
        while not self._writer.submit(batch):
            if self._writer.closing:
                _logger.warning("%d held records could not be written at shutdown", batch.size)
                return
            time.sleep(0.05)
        if self._writer.wait(batch, self.config.ack_timeout) is BatchState.STORED:
            self._count(
                interactions_stored=batch.stored_interactions,
                feedback_stored=batch.stored_feedback,
            )

    def shutdown(self, timeout: float | None = 30.0) -> bool:
        """Stop taking requests, write what is queued, close connections.

        Returns:
            True if every queued record was written (or answered as failed) in time.
        """
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
        self._store_settled(self._assembler.close())
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
