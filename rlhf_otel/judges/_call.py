"""One judge call through the official ``openai`` client: request window, token budget,
retries with jittered backoff on 429/5xx/timeouts honouring Retry-After."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from rlhf_otel.judges._spec import JudgeSpec

__all__ = ["CallFailed", "Clock", "Limiter", "SystemClock", "TokenBudget", "Usage", "call_judge"]

MAX_BACKOFF: Final = 30.0
MAX_RETRY_AFTER: Final = 120.0
WINDOW: Final = 60.0


class Clock(Protocol):
    """Time for the request window and backoff (a test may pass a simulated one)."""

    def monotonic(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        """Seconds on the system's monotonic clock."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)


class CallFailed(Exception):
    """A call that gave no usable answer; ``reason`` is the count key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one call used, as the endpoint reported them."""

    input_tokens: int
    output_tokens: int

    @property
    def total(self) -> int:
        """Input plus output."""
        return self.input_tokens + self.output_tokens


class Limiter:
    """At most ``rpm`` requests start in any 60-second window (``None``: no limit)."""

    def __init__(self, rpm: int | None, clock: Clock) -> None:
        self.rpm = rpm
        self.clock = clock
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more request fits in the window, and count it."""
        if self.rpm is None:
            return
        async with self._lock:
            while True:
                now = self.clock.monotonic()
                while self._sent and self._sent[0] <= now - WINDOW:
                    self._sent.popleft()
                if len(self._sent) < self.rpm:
                    self._sent.append(now)
                    return
                await self.clock.sleep(self._sent[0] + WINDOW - now)


class TokenBudget:
    """Tokens of a run: a call starts only when its worst case fits what is left."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0
        self.reserved = 0

    def reserve(self, tokens: int) -> bool:
        """Hold ``tokens`` for a call; ``False`` when they do not fit."""
        if self.limit is not None and self.used + self.reserved + tokens > self.limit:
            return False
        self.reserved += tokens
        return True

    def settle(self, reserved: int, used: int) -> None:
        """Release a reservation and count what the call really used."""
        self.reserved -= reserved
        self.used += used


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return min(max(float(ms) / 1000.0, 0.0), MAX_RETRY_AFTER)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(when.timestamp() - time.time(), 0.0), MAX_RETRY_AFTER)


def _classify(exc: Exception, openai: Any) -> tuple[str, float | None]:
    """(count key, Retry-After seconds) of a retryable error; raises CallFailed otherwise."""
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", None
    if isinstance(exc, openai.APIConnectionError):
        return "connection", None
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        after = _retry_after(exc.response.headers)
        if status == 429:
            return "rate_limited", after
        if status >= 500:
            return "server_error", after
        raise CallFailed(f"http_{status}") from None
    raise exc


async def call_judge(
    client: Any,
    spec: JudgeSpec,
    msgs: Sequence[Mapping[str, str]],
    response_format: Mapping[str, Any],
    *,
    limiter: Limiter,
    budget: TokenBudget,
    reserve: int,
    clock: Clock,
    counts: Counter[str],
) -> tuple[str | None, Usage]:
    """The judge's answer text and usage, after at most ``max_retries`` retries.

    ``reserve`` tokens must already be held in ``budget``; they are released here.
    ``counts`` gains ``requests``, ``retries`` and ``retry:<reason>``.

    Raises:
        CallFailed: the last attempt failed (reason: ``rate_limited``, ``server_error``,
            ``timeout``, ``connection``, ``http_<status>``).
    """
    import openai  # the judges extra; checked before a run starts

    ep = spec.endpoint
    kwargs: dict[str, Any] = {
        "model": ep.model,
        "messages": list(msgs),
        "max_tokens": ep.max_tokens,
        "response_format": response_format,
    }
    if ep.temperature is not None:
        kwargs["temperature"] = ep.temperature
    attempt = 0
    try:
        while True:
            await limiter.acquire()
            counts["requests"] += 1
            try:
                resp = await client.chat.completions.create(**kwargs)
            except openai.OpenAIError as exc:
                reason, after = _classify(exc, openai)
                if attempt >= spec.limits.max_retries:
                    raise CallFailed(reason) from None
                attempt += 1
                counts["retries"] += 1
                counts[f"retry:{reason}"] += 1
                if after is None:
                    after = min(MAX_BACKOFF, spec.limits.backoff * 2 ** (attempt - 1))
                    after *= random.uniform(0.5, 1.0)
                await clock.sleep(after)
                continue
            u = resp.usage
            usage = Usage(
                int(getattr(u, "prompt_tokens", 0) or 0),
                int(getattr(u, "completion_tokens", 0) or 0),
            )
            budget.settle(reserve, usage.total)
            reserve = 0
            choice = resp.choices[0] if resp.choices else None
            return (choice.message.content if choice is not None else None), usage
    finally:
        if reserve:
            budget.settle(reserve, 0)
