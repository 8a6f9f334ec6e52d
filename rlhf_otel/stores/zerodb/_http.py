"""The HTTP side of the ZeroDB store: one attempt, the retry policy, and calls under a budget.

Outcomes of an attempt, and what the store does with them::

    OK          2xx                                  delivered
    RETRY       connect/read errors, timeouts,       full-jitter backoff (Retry-After honoured,
                408, 429, 500, 502, 503, 504         capped) until the budget or attempts run out
    REJECTED    400, 409, 413, 422                   the rows are at fault: split, drop the bad ones
    REFUSED     3xx, 401, 403, 404, other 4xx,       the configuration is at fault: report, keep the
                unsupported URL                      records (spool), try again after probe_interval

Every error text quotes at most ``MAX_QUOTED_CHARS`` of a server's answer, with the API key
masked in any encoding the server may have echoed it in (see ``_mask``).
"""

from __future__ import annotations

import enum
import gzip
import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx
from opentelemetry import context as otel_context

from rlhf_otel.stores.zerodb._config import ENV_API_KEY, Secret, ZeroDBConfig
from rlhf_otel.stores.zerodb._mask import MAX_QUOTED_CHARS, KeyMask, guard_http_logs

__all__ = ["Attempt", "Outcome", "ZeroDBHTTP", "backoff_delay", "parse_retry_after"]

RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
REJECT_STATUSES: Final = frozenset({400, 409, 413, 422})
# The service (or a proxy) says it did not process these; others may have been committed.
NOT_PROCESSED_STATUSES: Final = frozenset({408, 429, 503})
KEY_REFUSED_STATUSES: Final = frozenset({401, 403})
GZIP_MIN_BYTES: Final = 1024
# Enough of an error answer to quote its start; the rest is never decoded.
_ANSWER_BYTES: Final = 16 * 1024
_SUPPRESS_KEY: Final = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None)
_USER_AGENT: Final = "rlhf-otel-zerodb/0.1"


class Outcome(enum.Enum):
    """How one attempt ended (see the module docstring)."""

    OK = "ok"
    RETRY = "retry"
    REJECTED = "rejected"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request's result. ``error`` is a key-free, human-readable reason when not OK."""

    outcome: Outcome
    status: int | None = None
    body: Any = None
    error: str | None = None
    retry_after: float | None = None
    maybe_committed: bool = False


def parse_retry_after(value: str | None, cap: float, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), cap)


def backoff_delay(attempt: int, base: float, ceiling: float, rng: random.Random) -> float:
    """Full jitter: uniform in ``[0, min(ceiling, base * 2**attempt)]`` (attempt counts from 0)."""
    return rng.uniform(0.0, min(ceiling, base * (2.0 ** min(attempt, 60))))


class ZeroDBHTTP:
    """Speaks the tables API; thread-safe; never raises from :meth:`send` or :meth:`call`."""

    def __init__(self, config: ZeroDBConfig, transport: httpx.BaseTransport | None = None) -> None:
        self._config = config
        self._secret: Secret = config.secret
        self._mask = KeyMask(self._secret.reveal())
        guard_http_logs(self._mask)
        self._client = httpx.Client(
            base_url=config.api_root,
            follow_redirects=False,
            transport=transport,
            timeout=httpx.Timeout(config.request_timeout, connect=config.connect_timeout),
        )
        self._gzip = config.compression != "none"
        self._lock = threading.Lock()
        self._requests = 0
        self._rng = random.Random()

    def __repr__(self) -> str:
        return f"ZeroDBHTTP(api_root={self._config.api_root!r})"

    @property
    def requests(self) -> int:
        """Requests sent so far (every attempt counts)."""
        with self._lock:
            return self._requests

    @property
    def gzip_enabled(self) -> bool:
        """Whether bodies are still sent gzip-compressed."""
        return self._gzip

    def redact(self, text: str, limit: int | None = None) -> str:
        """``text`` with the API key masked in any encoding, on one line, cut to ``limit``."""
        return self._mask(text, limit)

    def table_path(self, table: str, suffix: str = "") -> str:
        """The path of a table (or one of its sub-resources) of the configured project."""
        return f"/projects/{self._config.project_id}/database/tables/{table}{suffix}"

    def send(
        self,
        method: str,
        path: str,
        payload: Mapping[str, Any] | bytes | None = None,
        *,
        timeout: float | None = None,
        idempotency_key: str | None = None,
    ) -> Attempt:
        """One request (two if the service refuses gzip with 415 under ``"auto"``).

        ``payload`` is JSON-encoded, or sent as is when it is already ``bytes``.
        """
        if payload is None or isinstance(payload, bytes):
            body = payload
        else:
            body = json.dumps(payload, separators=(",", ":")).encode()
        attempt = self._send_once(method, path, body, timeout, idempotency_key)
        if attempt.status == 415 and self._gzip and self._config.compression == "auto":
            self._gzip = False
            attempt = self._send_once(method, path, body, timeout, idempotency_key)
        return attempt

    def _send_once(
        self,
        method: str,
        path: str,
        body: bytes | None,
        timeout: float | None,
        idempotency_key: str | None,
    ) -> Attempt:
        headers = {
            "X-API-Key": self._secret.reveal(),
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
        }
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if body is not None:
            headers["Content-Type"] = "application/json"
            if self._gzip and len(body) >= GZIP_MIN_BYTES:
                body = gzip.compress(body, compresslevel=1)
                headers["Content-Encoding"] = "gzip"
        request_timeout: httpx.Timeout | None = None
        if timeout is not None:
            t = max(timeout, 0.001)
            request_timeout = httpx.Timeout(
                min(t, self._config.request_timeout), connect=min(t, self._config.connect_timeout)
            )
        token = (
            None
            if _SUPPRESS_KEY is None
            else otel_context.attach(otel_context.set_value(_SUPPRESS_KEY, True))
        )
        with self._lock:
            self._requests += 1
        try:
            if request_timeout is None:
                response = self._client.request(method, path, content=body, headers=headers)
            else:
                response = self._client.request(
                    method, path, content=body, headers=headers, timeout=request_timeout
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Attempt(Outcome.RETRY, error=self._describe(method, path, exc))
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            return Attempt(
                Outcome.RETRY, error=self._describe(method, path, exc), maybe_committed=True
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return Attempt(Outcome.REFUSED, error=self._describe(method, path, exc))
        finally:
            if token is not None:
                otel_context.detach(token)
        return self._classify(method, path, response)

    def _describe(self, method: str, path: str, exc: Exception) -> str:
        return f"{method} {path}: {type(exc).__name__}: {self.redact(str(exc), 300)}"

    def _classify(self, method: str, path: str, response: httpx.Response) -> Attempt:
        status = response.status_code
        if 200 <= status < 300:
            try:
                body = response.json() if response.content else {}
            except ValueError:
                body = {}
            return Attempt(Outcome.OK, status=status, body=body)
        answer = response.content[:_ANSWER_BYTES].decode("utf-8", "replace")
        detail = self.redact(answer, MAX_QUOTED_CHARS)
        where = f"{method} {path}: HTTP {status}"
        if 300 <= status < 400:
            target = self.redact(response.headers.get("Location", "?"), MAX_QUOTED_CHARS)
            return Attempt(
                Outcome.REFUSED,
                status=status,
                error=f"{where} redirect to {target} not followed (check base_url)",
            )
        if status in KEY_REFUSED_STATUSES:
            where += f" (the API key was refused: check api_key or ${ENV_API_KEY})"
        error = f"{where}: {detail}" if detail else where
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), self._config.retry_after_max
            )
            return Attempt(
                Outcome.RETRY,
                status=status,
                error=error,
                retry_after=retry_after,
                maybe_committed=status not in NOT_PROCESSED_STATUSES,
            )
        outcome = Outcome.REJECTED if status in REJECT_STATUSES else Outcome.REFUSED
        return Attempt(outcome, status=status, error=error)

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        if retry_after is not None:
            return retry_after
        return backoff_delay(
            attempt, self._config.backoff_base, self._config.backoff_max, self._rng
        )

    def call(
        self,
        method: str,
        path: str,
        payload: Mapping[str, Any] | bytes | None = None,
        *,
        budget: float,
        stop: threading.Event | None = None,
        on_retry: Callable[[Attempt], Attempt | Mapping[str, Any] | bytes | None] | None = None,
        max_attempts: int | None = None,
        give_up: Callable[[Attempt], bool] | None = None,
        on_failure: Callable[[Attempt], None] | None = None,
    ) -> Attempt:
        """``send`` with retries on RETRY outcomes, within ``budget`` seconds and max_attempts.

        ``on_retry`` runs after each backoff with the failed attempt and may return a new
        payload to send, an :class:`Attempt` to end with (or, if its outcome is RETRY, to
        count as one more failed attempt), or ``None`` to resend as before. The insert path
        uses it to ask whether rows the service may have committed are already there.
        ``stop`` being set, or ``give_up(failed attempt)`` turning true (checked during the
        backoff too), ends the retries early. ``on_failure`` hears of each failed attempt
        that is about to be retried.
        """
        deadline = time.monotonic() + budget
        attempt = self.send(method, path, payload, timeout=budget)
        n, limit = 1, max_attempts or self._config.max_attempts
        while attempt.outcome is Outcome.RETRY and n < limit:
            delay = self.backoff(n - 1, attempt.retry_after)
            if delay >= deadline - time.monotonic():
                break
            if on_failure is not None:
                on_failure(attempt)
            if _pause(delay, stop, give_up, attempt):
                break
            n += 1
            if on_retry is not None:
                decided = on_retry(attempt)
                if isinstance(decided, Attempt):
                    attempt = decided
                    continue
                if decided is not None:
                    payload = decided
            attempt = self.send(method, path, payload, timeout=deadline - time.monotonic())
        return attempt

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def _pause(
    delay: float,
    stop: threading.Event | None,
    give_up: Callable[[Attempt], bool] | None,
    failed: Attempt,
) -> bool:
    """Sleep ``delay`` seconds; ``True`` (at once) if ``stop`` is set or ``give_up(failed)``."""
    if give_up is None:
        if stop is None:
            time.sleep(delay)
            return False
        return stop.wait(delay)
    end = time.monotonic() + delay
    while not give_up(failed):
        left = end - time.monotonic()
        if left <= 0:
            return False
        if stop is not None and stop.wait(min(left, 0.05)):
            return True
        if stop is None:
            time.sleep(min(left, 0.05))
    return True
