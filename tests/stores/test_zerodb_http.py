"""The ZeroDB HTTP layer's retry policy and answer classification, over httpx.MockTransport."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from rlhf_otel.stores.zerodb import ZeroDBConfig
from rlhf_otel.stores.zerodb._http import Outcome, ZeroDBHTTP, backoff_delay, parse_retry_after

KEY = "mock-secret-key-0123"


def _http(handler: Callable[[httpx.Request], httpx.Response], **options: object) -> ZeroDBHTTP:
    settings: dict[str, object] = dict(
        project_id="p",
        api_key=KEY,
        base_url="http://127.0.0.1:1",
        backoff_base=0.001,
        backoff_max=0.002,
        spool=False,
    )
    settings.update(options)
    return ZeroDBHTTP(ZeroDBConfig(**settings), httpx.MockTransport(handler))  # type: ignore[arg-type]


def test_retry_after_forms() -> None:
    """Delta-seconds and HTTP-dates parse; both are capped; junk is ignored."""
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=20), usegmt=True)
    assert parse_retry_after("7", cap=60) == 7.0
    assert parse_retry_after("7", cap=2) == 2.0
    assert parse_retry_after("-3", cap=60) == 0.0
    assert parse_retry_after(later, cap=60, now=now.timestamp()) == 20.0
    assert parse_retry_after("soon", cap=60) is None
    assert parse_retry_after(None, cap=60) is None


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    """Attempt n sleeps within [0, min(max, base * 2**n)], spread over the range."""
    rng = random.Random(7)
    delays = [backoff_delay(3, 0.5, 30.0, rng) for _ in range(500)]
    assert 0.0 <= min(delays) < 0.5
    assert 3.5 < max(delays) <= 4.0
    assert max(backoff_delay(20, 0.5, 30.0, rng) for _ in range(100)) <= 30.0


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.OK),
        (201, Outcome.OK),
        (301, Outcome.REFUSED),
        (307, Outcome.REFUSED),
        (308, Outcome.REFUSED),
        (400, Outcome.REJECTED),
        (401, Outcome.REFUSED),
        (403, Outcome.REFUSED),
        (404, Outcome.REFUSED),
        (408, Outcome.RETRY),
        (409, Outcome.REJECTED),
        (413, Outcome.REJECTED),
        (422, Outcome.REJECTED),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (501, Outcome.REFUSED),
        (502, Outcome.RETRY),
        (503, Outcome.RETRY),
        (504, Outcome.RETRY),
    ],
)
def test_status_classification(status: int, outcome: Outcome) -> None:
    """Each status lands in its documented outcome; redirects are never followed."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(status, headers={"Location": "http://127.0.0.2:9/x"}, json={})

    attempt = _http(handler).send("POST", "/projects/p/database/tables/t/rows", {"rows": []})
    assert attempt.outcome is outcome
    assert seen == ["http://127.0.0.1:1/api/v1/projects/p/database/tables/t/rows"]


def test_transport_errors_are_retried_and_marked_ambiguous_when_sent() -> None:
    """A refused connection was surely not processed; a read timeout may have been."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    refused = _http(refuse).send("GET", "/x")
    stalled = _http(stall).send("GET", "/x")
    assert (refused.outcome, refused.maybe_committed) == (Outcome.RETRY, False)
    assert (stalled.outcome, stalled.maybe_committed) == (Outcome.RETRY, True)


def test_call_stops_at_max_attempts() -> None:
    """call() sends at most max_attempts requests for a persistent 503."""
    count = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        count[0] += 1
        return httpx.Response(503)

    attempt = _http(handler, max_attempts=5).call("GET", "/x", budget=5.0)
    assert (attempt.outcome, count[0]) == (Outcome.RETRY, 5)


def test_call_stops_when_the_next_wait_passes_the_budget() -> None:
    """A Retry-After longer than the remaining budget ends the call after one request."""
    count = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        count[0] += 1
        return httpx.Response(429, headers={"Retry-After": "10"})

    attempt = _http(handler).call("GET", "/x", budget=1.0)
    assert (attempt.status, attempt.retry_after, count[0]) == (429, 10.0, 1)


def test_key_goes_only_in_the_header_and_is_redacted_from_errors() -> None:
    """The key is sent as X-API-Key, and a server echoing it does not put it in the error."""
    headers: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        headers.append(request.headers)
        return httpx.Response(400, text=f"bad key {KEY}")

    http = _http(handler)
    attempt = http.send("POST", "/x", {"a": 1})
    assert headers[0]["X-API-Key"] == KEY
    assert attempt.error == "POST /x: HTTP 400: bad key ***"
    assert KEY not in repr(http)
