"""POST /feedback over real HTTP: refusals with their documented status, and nothing stored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rlhf_otel import RLHFLogger
from rlhf_otel.web import TokenKeys, feedback_app, running_server
from tests.web.conftest import SECRET, Site

IID = "chat-1"
OTHER = "chat-2"


@pytest.fixture
def api(site: Site) -> Iterator[httpx.Client]:
    """An HTTP client on the feedback service."""
    with httpx.Client(base_url=f"{site.url}/rlhf") as client:
        yield client


def _body(token: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "token": token,
        "type": "binary",
        "interaction_id": IID,
        "data": {"value": "thumbs_up"},
        "client_key": "k1",
    }
    body.update(over)
    return body


def _nothing_stored(logger: RLHFLogger) -> None:
    assert logger.flush()
    assert logger.query_feedback() == []


def _refused(r: httpx.Response, status: int, error: str) -> None:
    assert (r.status_code, r.json()["error"]) == (status, error), r.text
    assert set(r.json()) == {"error", "detail"}


def test_valid_submission_is_stored_with_server_stamps(
    api: httpx.Client, logger: RLHFLogger
) -> None:
    """A valid submission answers 201 with its id; the record has the token's user, source
    "web" and a server timestamp."""
    before = time.time()
    r = api.post("/feedback", json=_body(logger.feedback_token(IID, user_id="u-9")))
    assert r.status_code == 201
    assert r.json()["status"] == "stored"
    [fb] = logger.query_feedback()
    assert (fb.id, fb.user_id, fb.source, fb.interaction_id) == (r.json()["id"], "u-9", "web", IID)
    assert before - 1 <= fb.timestamp.timestamp() <= time.time() + 1


def test_retry_is_stored_once(api: httpx.Client, logger: RLHFLogger) -> None:
    """The same submission sent twice (same client key) answers the same id, stored once."""
    token = logger.feedback_token(IID)
    first = api.post("/feedback", json=_body(token))
    again = api.post("/feedback", json=_body(token))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {"id": first.json()["id"], "status": "duplicate"}
    assert len(logger.query_feedback()) == 1


def test_retry_after_restart_is_found_in_the_store(site: Site, logger: RLHFLogger) -> None:
    """A resend (retry: true) reaching a fresh app (empty recent-id cache) is recognised
    from the store."""
    token = logger.feedback_token(IID)
    r = httpx.post(f"{site.url}/rlhf/feedback", json=_body(token))
    assert logger.flush()
    with running_server(feedback_app(logger)) as other:
        again = httpx.post(f"{other}/feedback", json=_body(token, retry=True))
    assert (again.status_code, again.json()["id"]) == (200, r.json()["id"])
    assert len(logger.query_feedback()) == 1


def test_forged_signature(api: httpx.Client, logger: RLHFLogger) -> None:
    """A token whose signature was altered, or made with another secret, is 401."""
    token = logger.feedback_token(IID)
    kid, body, sig = token.split(".")
    forged = f"{kid}.{body}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"
    _refused(api.post("/feedback", json=_body(forged)), 401, "bad_signature")
    other = TokenKeys({"k0": "another-secret-0123456789"}, "k0").sign(IID)
    _refused(api.post("/feedback", json=_body(other)), 401, "bad_signature")
    _refused(api.post("/feedback", json=_body("not-a-token")), 401, "malformed")
    _refused(api.post("/feedback", json=_body(12)), 401, "malformed")
    _nothing_stored(logger)


def test_expired_token(api: httpx.Client, logger: RLHFLogger) -> None:
    """A token past its expiry is 401 expired."""
    token = TokenKeys({"k0": SECRET}, "k0").sign(IID, ttl=60, now=time.time() - 120)
    r = api.post("/feedback", json=_body(token))
    _refused(r, 401, "expired")
    assert r.json()["detail"] == "the feedback token has expired"
    _nothing_stored(logger)


def test_replay_after_expiry(api: httpx.Client, logger: RLHFLogger) -> None:
    """A submission accepted while the token was valid is refused when replayed after
    expiry, even with a new client key; only the original is stored."""
    token = TokenKeys({"k0": SECRET}, "k0").sign(IID, ttl=10, now=time.time() - 8.5)
    assert api.post("/feedback", json=_body(token)).status_code == 201
    time.sleep(2.6)
    _refused(api.post("/feedback", json=_body(token)), 401, "expired")
    _refused(api.post("/feedback", json=_body(token, client_key="k2")), 401, "expired")
    assert len(logger.query_feedback()) == 1


def test_token_for_another_interaction(api: httpx.Client, logger: RLHFLogger) -> None:
    """A token for one interaction cannot rate another, nor compare outside its set."""
    r = api.post("/feedback", json=_body(logger.feedback_token(OTHER)))
    _refused(r, 403, "wrong_interaction")
    assert r.json()["detail"] == "this token does not cover interaction 'chat-1'"
    data = {"preferred_response_id": IID, "compared_response_ids": ["chat-3"]}
    pair = logger.feedback_token([IID, OTHER])
    _refused(
        api.post("/feedback", json=_body(pair, type="comparative", data=data)),
        403,
        "wrong_interaction",
    )
    _nothing_stored(logger)


def test_type_not_allowed(api: httpx.Client, logger: RLHFLogger) -> None:
    """A token allowing only ratings refuses thumbs with 403."""
    r = api.post("/feedback", json=_body(logger.feedback_token(IID, types=["rating"])))
    _refused(r, 403, "type_not_allowed")
    assert r.json()["detail"] == "this token does not allow 'binary' feedback; allowed: rating"
    _nothing_stored(logger)


def test_oversized_body(api: httpx.Client, logger: RLHFLogger) -> None:
    """A body over 64 KiB is 413."""
    body = _body(logger.feedback_token(IID), metadata={"pad": "x" * 70_000})
    _refused(api.post("/feedback", json=body), 413, "payload_too_large")
    _nothing_stored(logger)


def test_invalid_json(api: httpx.Client, logger: RLHFLogger) -> None:
    """A body that is not JSON is 400."""
    r = api.post(
        "/feedback", content=b'{"token": "x", ', headers={"content-type": "application/json"}
    )
    _refused(r, 400, "invalid_json")
    _nothing_stored(logger)


def test_ten_thousand_deep_json(api: httpx.Client, logger: RLHFLogger) -> None:
    """10,000 nested arrays are refused with 400 before parsing (no recursion error, no 500)."""
    r = api.post(
        "/feedback",
        content=b"[" * 10_000 + b"]" * 10_000,
        headers={"content-type": "application/json"},
    )
    _refused(r, 400, "too_deep")
    _nothing_stored(logger)


def test_wrong_content_type(api: httpx.Client, logger: RLHFLogger) -> None:
    """A form-encoded or text body is 415."""
    token = logger.feedback_token(IID)
    _refused(api.post("/feedback", data={"token": token}), 415, "unsupported_media_type")
    _refused(
        api.post("/feedback", content=b"{}", headers={"content-type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    _nothing_stored(logger)


def test_rate_limit_per_token(logger: RLHFLogger) -> None:
    """Past a token's burst, 429 with Retry-After; the refused ones are not stored."""
    with running_server(feedback_app(logger, token_rate=0.1, token_burst=2)) as url:
        token = logger.feedback_token(IID)
        codes = [
            httpx.post(f"{url}/feedback", json=_body(token, client_key=f"c{i}")) for i in range(4)
        ]
    assert [r.status_code for r in codes] == [201, 201, 429, 429]
    assert codes[2].headers["retry-after"] == "10"
    _refused(codes[2], 429, "rate_limited")
    assert len(logger.query_feedback()) == 2


def test_rate_limit_per_address(logger: RLHFLogger) -> None:
    """Past an address's burst, 429 before the body is even read."""
    with running_server(feedback_app(logger, ip_rate=0.5, ip_burst=1)) as url:
        token = logger.feedback_token(IID)
        first = httpx.post(f"{url}/feedback", json=_body(token))
        second = httpx.post(f"{url}/feedback", json=_body(token, client_key="c2"))
    assert (first.status_code, second.status_code, second.headers["retry-after"]) == (201, 429, "2")
    assert len(logger.query_feedback()) == 1


def test_client_cannot_set_time_source_or_user(api: httpx.Client, logger: RLHFLogger) -> None:
    """Fields the server sets are refused with 422 naming them."""
    token = logger.feedback_token(IID)
    for name, value in (
        ("timestamp", "2020-01-01T00:00:00Z"),
        ("source", "admin"),
        ("user_id", "x"),
    ):
        r = api.post("/feedback", json=_body(token, **{name: value}))
        _refused(r, 422, "invalid")
        assert r.json()["detail"].startswith(f"field(s) ['{name}'] not accepted")
    _nothing_stored(logger)


def test_logger_validation_message_is_422(api: httpx.Client, logger: RLHFLogger) -> None:
    """Payload errors carry the logger API's own message."""
    token = logger.feedback_token(IID)
    r = api.post("/feedback", json=_body(token, type="rating", data={"rating": 9}))
    _refused(r, 422, "invalid")
    assert r.json()["detail"] == "Rating must be between 1 and 5; got 9"
    r = api.post("/feedback", json=_body(token, type="stars"))
    assert r.json()["detail"] == (
        "feedback type 'stars' unknown; allowed: binary, rating, text, multi_dimensional, comparative"
    )
    _refused(api.post("/feedback", json=[1, 2]), 422, "invalid")
    _refused(api.post("/feedback", json=_body(token, client_key="bad key!")), 422, "invalid")
    _nothing_stored(logger)


def test_supersedes_only_own_earlier_version(api: httpx.Client, logger: RLHFLogger) -> None:
    """A changed vote may name an id from its own token and type only (403 otherwise)."""
    token = logger.feedback_token(IID)
    first = api.post("/feedback", json=_body(token)).json()["id"]
    other = api.post("/feedback", json=_body(logger.feedback_token(IID))).json()["id"]
    r = api.post("/feedback", json=_body(token, client_key="k2", supersedes=other))
    _refused(r, 403, "bad_supersedes")
    r = api.post(
        "/feedback",
        json=_body(token, type="rating", data={"rating": 2}, client_key="k3", supersedes=first),
    )
    _refused(r, 403, "bad_supersedes")
    ok = api.post(
        "/feedback",
        json=_body(token, client_key="k4", data={"value": "thumbs_down"}, supersedes=first),
    )
    assert ok.status_code == 201
    assert len(logger.query_feedback()) == 3
    stats = logger.get_feedback_stats()
    assert (stats.total_feedback, stats.binary.thumbs_up, stats.binary.thumbs_down) == (2, 1, 1)  # type: ignore[union-attr]


def test_batch_reports_each_item(api: httpx.Client, logger: RLHFLogger) -> None:
    """The batch form stores the valid items and reports each refusal in place."""
    token = logger.feedback_token(IID)
    r = api.post(
        "/feedback/batch",
        json={
            "items": [
                _body(token),
                _body("forged.x.y"),
                _body(token, type="text", data={"comment": "ok"}, client_key="k2"),
            ]
        },
    )
    assert r.status_code == 200
    assert [item["code"] for item in r.json()["results"]] == [201, 401, 201]
    assert r.json()["results"][1]["error"] == "unknown_key"
    assert len(logger.query_feedback()) == 2
    _refused(api.post("/feedback/batch", json={"items": []}), 422, "invalid")


def test_health_and_widget(api: httpx.Client) -> None:
    """The health route and the widget script answer."""
    assert api.get("/healthz").json() == {"status": "ok"}
    r = api.get("/widget.js")
    assert (r.status_code, r.headers["content-type"]) == (200, "text/javascript; charset=utf-8")
    assert 'customElements.define("rlhf-feedback"' in r.text


def test_redaction_and_size_limits_apply(tmp_path: Any) -> None:
    """What arrives over HTTP goes through the logger's redactors and text size limit."""
    from opentelemetry.sdk.trace import TracerProvider

    from rlhf_otel import create_rlhf_logger

    lg = create_rlhf_logger(
        tracer_provider=TracerProvider(),
        backend="memory",
        feedback_secret=SECRET,
        redact=[lambda text: text.replace("sk-live-123", "[REDACTED]")],
        max_text_chars=64,
    )
    with lg, running_server(feedback_app(lg)) as url:
        comment = "my key is sk-live-123 " + "x" * 200
        body = _body(lg.feedback_token(IID), type="text", data={"comment": comment})
        assert httpx.post(f"{url}/feedback", json=body).status_code == 201
        [fb] = lg.query_feedback()
    assert fb.data["comment"].startswith("my key is [REDACTED] xxx")
    assert "sk-live-123" not in fb.data["comment"]
    assert len(fb.data["comment"]) < len(comment)
    assert lg.delivery()["truncated"] == 1
