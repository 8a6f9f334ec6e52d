"""Settings and counters of ``rlhf-otel collect``'s receiver, and its shared body budget."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from rlhf_otel._errors import ConfigurationError
from rlhf_otel._hosts import HostAllowList

__all__ = ["Budget", "ReceiverConfig", "ReceiverStats"]

_MIB: Final = 1024 * 1024


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
        max_inflight_bytes: bytes of bodies (as sent plus inflated) that all requests in
            progress may hold together (default 256 MiB); a request that would pass it
            gets 503 with ``Retry-After``, so concurrent gzip bombs cannot exhaust memory.
        allowed_hosts: ``Host`` names answered besides the address the client connected to
            (and ``localhost`` on loopback); others get 421, so a web page reaching the
            receiver through DNS rebinding is refused. ``"*"``: any host.
        header_timeout: seconds a connection may take to send a request's headers, counted
            from when it opened or its previous answer (default 10); then it is closed.
        body_timeout: seconds a request may take to send its body (default 30).
        max_connections: connections served at once (default 500); more are answered 503.
        logs_path: the log export path (default ``/v1/logs``): GenAI content sent as log
            records, joined to its span by trace and span id.
        log_wait: seconds a model-call span without content waits for its log records
            (default 5) once the receiver has received a logs export (or from the start
            with ``wait_for_logs``); past it the span is stored as it is and the give-up is
            counted (``foreign_waits["content_logs_missing"]`` in the stats).
        trace_wait: seconds other libraries' spans wait for their trace's root span
            (default 30), so the outermost span becomes the interaction.
        wait_for_logs: wait for log records from the first span on (default False).
        redact, max_prompt_chars, max_response_chars, max_text_chars,
            max_context_messages: the logger's content policy (``RLHFConfig`` fields of the
            same names and defaults), applied to every record received before it is stored.
    """

    host: str = "127.0.0.1"
    port: int = 4320
    token: str | None = None
    path: str = "/v1/traces"
    logs_path: str = "/v1/logs"
    log_wait: float = 5.0
    trace_wait: float = 30.0
    wait_for_logs: bool = False
    max_body_bytes: int = 16 * _MIB
    max_decompressed_bytes: int = 64 * _MIB
    max_pending_records: int = 20_000
    max_write_records: int = 5_000
    max_concurrent_requests: int = 64
    retry_after: int = 1
    ack_timeout: float = 10.0
    max_inflight_bytes: int = 256 * _MIB
    allowed_hosts: Sequence[str] = ()
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 500
    redact: Sequence[Callable[[str], str]] = field(default=(), repr=False)
    max_prompt_chars: int | None = 100_000
    max_response_chars: int | None = 100_000
    max_text_chars: int | None = 100_000
    max_context_messages: int | None = 100

    def __post_init__(self) -> None:
        if isinstance(self.allowed_hosts, str):
            object.__setattr__(self, "allowed_hosts", (self.allowed_hosts,))
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        HostAllowList(self.allowed_hosts)
        for name in ("header_timeout", "body_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigurationError(f"{name} must be a number of seconds > 0; got {value!r}")
        if callable(self.redact):
            object.__setattr__(self, "redact", (self.redact,))
        object.__setattr__(self, "redact", tuple(self.redact))
        for name in ("max_prompt_chars", "max_response_chars", "max_text_chars"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 64
            ):
                raise ConfigurationError(f"{name} must be an int >= 64 or None; got {value!r}")
        ctx = self.max_context_messages
        if ctx is not None and (isinstance(ctx, bool) or not isinstance(ctx, int) or ctx < 0):
            raise ConfigurationError(
                f"max_context_messages must be an int >= 0 or None; got {ctx!r}"
            )
        for name in (
            "max_inflight_bytes",
            "max_body_bytes",
            "max_decompressed_bytes",
            "max_pending_records",
            "max_write_records",
            "max_concurrent_requests",
            "max_connections",
            "retry_after",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a positive int; got {value!r}")
        port = self.port
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
            raise ConfigurationError(f"port must be an int in 0..65535; got {self.port!r}")
        for name in ("log_wait", "trace_wait"):
            wait = getattr(self, name)
            if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait > 0:
                raise ConfigurationError(f"{name} must be > 0 seconds; got {wait!r}")
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
    ``spans_rejected`` were answered as partial success with a reason; ``truncated``
    counts texts cut to the content limits; ``spans_skipped`` counts, by reason, the
    ignored spans of other instrumentations that a dialect knows but that hold no
    interaction (an embedding, a tool call, a shape no dialect reads);
    ``log_records_received``/``log_records_ignored`` count ``/v1/logs`` records (ignored:
    no GenAI content); ``foreign_waits`` counts waits for a trace's root or a span's log
    records that ended without them (nothing is lost: the span is stored as it is), and
    ``foreign_held`` the other libraries' spans waiting now.
    """

    requests: int
    spans_received: int
    spans_ignored: int
    spans_rejected: int
    interactions_stored: int
    feedback_stored: int
    pending_records: int
    responses: dict[int, int]
    truncated: int = 0
    spans_skipped: dict[str, int] = field(default_factory=dict)
    log_records_received: int = 0
    log_records_ignored: int = 0
    foreign_waits: dict[str, int] = field(default_factory=dict)
    foreign_held: int = 0


class Budget:
    """Bytes that requests in progress may hold together; each takes and gives back."""

    def __init__(self, total: int) -> None:
        self._lock = threading.Lock()
        self._free = total

    def take(self, n: int) -> bool:
        """Take ``n`` bytes if that many are free."""
        with self._lock:
            if n > self._free:
                return False
            self._free -= n
            return True

    def give(self, n: int) -> None:
        """Give back ``n`` bytes taken before."""
        with self._lock:
            self._free += n
