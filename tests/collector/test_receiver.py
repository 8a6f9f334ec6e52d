"""The OTLP/HTTP receiver of ``rlhf-otel collect``: formats, answers and limits per the spec."""

from __future__ import annotations

import http.client
import json
import zlib
from datetime import datetime, timezone

import pytest
from google.rpc import status_pb2
from opentelemetry.trace import Tracer

from rlhf_otel import ConfigurationError
from rlhf_otel import attributes as A
from rlhf_otel.receiver import OTLPReceiver, ReceiverConfig
from rlhf_otel.records import TokenUsage
from rlhf_otel.stores import MemoryStore
from tests.collector._app import (
    every_feedback,
    log_feedback,
    log_interaction,
    log_ordinary,
    stored_records,
)
from tests.collector._bodies import (
    JSON,
    client,
    finished_spans,
    gzipped,
    json_document,
    partial_success,
    post,
    protobuf_body,
    request_of,
)


def _three_and_feedback(tracer: Tracer) -> None:
    ids = [log_interaction(tracer, n) for n in range(3)]
    for fb in every_feedback(ids):
        log_feedback(tracer, fb)
    log_ordinary(tracer, 0)


def test_protobuf_export_is_stored(receiver: OTLPReceiver, store: MemoryStore) -> None:
    """A protobuf export is answered 200 with no partial success and its records stored."""
    response = post(receiver.endpoint, protobuf_body(_three_and_feedback))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert partial_success(response) == (0, "")
    assert len(list(store.scan_interactions())) == 3
    assert [fb.id for fb in store.scan_feedback()] == [
        "fb-binary",
        "fb-rating",
        "fb-text",
        "fb-multi",
        "fb-compare",
    ]
    stats = receiver.stats()
    assert (stats.spans_received, stats.spans_ignored, stats.spans_rejected) == (9, 1, 0)
    assert (stats.interactions_stored, stats.feedback_stored) == (3, 5)


def test_json_export_stores_what_protobuf_stores(
    receiver: OTLPReceiver, store: MemoryStore
) -> None:
    """OTLP/JSON (hex ids, camelCase, int64 as strings) yields the same records as protobuf."""
    request = request_of(finished_spans(_three_and_feedback))
    via_protobuf = MemoryStore(max_entries=None)
    with OTLPReceiver(via_protobuf, ReceiverConfig(port=0)) as other:
        assert post(other.endpoint, bytes(request.SerializeToString())).status_code == 200
    response = post(receiver.endpoint, json.dumps(json_document(request)).encode(), JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert partial_success(response) == (0, "")
    assert stored_records(store) == stored_records(via_protobuf)


def test_handwritten_otlp_json_span_is_stored(receiver: OTLPReceiver, store: MemoryStore) -> None:
    """A GenAI span written by hand in OTLP/JSON becomes an interaction with its ids."""
    doc = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "chat m",
                                "kind": "SPAN_KIND_CLIENT",
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000000250000000",
                                "attributes": [
                                    {
                                        "key": "gen_ai.operation.name",
                                        "value": {"stringValue": "chat"},
                                    },
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "m"}},
                                    {
                                        "key": "gen_ai.usage.input_tokens",
                                        "value": {"intValue": "12"},
                                    },
                                    {"key": "someUnknownField", "value": {"stringValue": "x"}},
                                ],
                                "futureField": {"ignored": True},
                            }
                        ]
                    }
                ]
            }
        ]
    }
    response = post(receiver.endpoint, json.dumps(doc).encode(), JSON)
    assert response.status_code == 200
    it = store.get_interaction("5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174")
    assert it is not None
    assert (it.model, it.latency_ms, it.token_usage) == ("m", 250.0, TokenUsage(12, None, None))
    assert it.timestamp == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_bodies_are_accepted(
    receiver: OTLPReceiver, store: MemoryStore, encoding: str
) -> None:
    """gzip and deflate bodies are decompressed and stored."""
    raw = protobuf_body(_three_and_feedback)
    body = gzipped(raw) if encoding == "gzip" else zlib.compress(raw)
    response = post(receiver.endpoint, body, headers={"Content-Encoding": encoding})
    assert response.status_code == 200
    assert len(store) == 8


def _status(response_content: bytes) -> tuple[int, str]:
    status = status_pb2.Status.FromString(response_content)
    return int(status.code), str(status.message)


def test_malformed_protobuf_is_400(receiver: OTLPReceiver, store: MemoryStore) -> None:
    """Bytes that are not an ExportTraceServiceRequest get 400 with a Status body."""
    response = post(receiver.endpoint, b"\x0a\xff\xff\xff\xff\x0fgarbage")
    assert response.status_code == 400
    code, message = _status(response.content)
    assert code == 3
    assert message.startswith("body is not a protobuf ExportTraceServiceRequest")
    assert len(store) == 0


@pytest.mark.parametrize(
    ("body", "start"),
    [
        (b"{not json", "body is not JSON"),
        (b"[1, 2]", "JSON body must be an object"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', "traceId"),
        (b'{"resourceSpans": {"a": 1}}', "'resourceSpans' must be a list"),
    ],
)
def test_malformed_json_is_400(
    receiver: OTLPReceiver, store: MemoryStore, body: bytes, start: str
) -> None:
    """JSON that is not an OTLP export gets 400 with a JSON Status naming the problem."""
    response = post(receiver.endpoint, body, JSON)
    assert response.status_code == 400
    assert response.json()["code"] == 3
    assert response.json()["message"].startswith(start)
    assert len(store) == 0


def test_corrupt_gzip_is_400(receiver: OTLPReceiver) -> None:
    """A body that claims gzip but is not gets 400."""
    response = post(receiver.endpoint, b"definitely not gzip", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400


@pytest.mark.parametrize("content_type", ["text/plain", "application/grpc", ""])
def test_wrong_content_type_is_415(receiver: OTLPReceiver, content_type: str) -> None:
    """Only protobuf and JSON bodies are taken; anything else gets 415."""
    response = post(receiver.endpoint, protobuf_body(_three_and_feedback), content_type)
    assert response.status_code == 415
    assert response.headers["connection"] == "close"
    assert "application/x-protobuf or application/json" in response.text


def test_unknown_content_encoding_is_415(receiver: OTLPReceiver) -> None:
    """A compression the receiver cannot undo gets 415."""
    response = post(receiver.endpoint, b"...", headers={"Content-Encoding": "br"})
    assert response.status_code == 415


def test_body_over_limit_is_413(store: MemoryStore) -> None:
    """A body over max_body_bytes gets 413 before it is read; nothing is stored."""
    body = protobuf_body(_three_and_feedback)
    with OTLPReceiver(store, ReceiverConfig(port=0, max_body_bytes=len(body) - 1)) as rx:
        response = post(rx.endpoint, body)
        assert response.status_code == 413
        assert response.headers["connection"] == "close"
        assert (
            post(rx.endpoint, gzipped(body), headers={"Content-Encoding": "gzip"}).status_code
            == 200
        )
    assert len(store) == 8


def test_decompressed_body_over_limit_is_413(store: MemoryStore) -> None:
    """A small gzip body that inflates past max_decompressed_bytes gets 413."""
    bomb = gzipped(b"\0" * 5_000_000)
    with OTLPReceiver(store, ReceiverConfig(port=0, max_decompressed_bytes=1_000_000)) as rx:
        response = post(rx.endpoint, bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert _status(response.content)[1] == "decompressed body is over the 1000000-byte limit"


def test_unknown_span_kind_is_accepted(receiver: OTLPReceiver, store: MemoryStore) -> None:
    """A span kind this receiver does not know (OTLP enums are open) is still stored."""
    request = request_of(finished_spans(lambda t: log_interaction(t, 1)))
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.kind = 42  # type: ignore[assignment]  # an enum value from a future spec
    response = post(receiver.endpoint, bytes(request.SerializeToString()))
    assert response.status_code == 200
    assert partial_success(response) == (0, "")
    assert len(list(store.scan_interactions())) == 1
    doc = json_document(request)
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["kind"] = "SPAN_KIND_FROM_THE_FUTURE"
    assert post(receiver.endpoint, json.dumps(doc).encode(), JSON).status_code == 200


def test_unreadable_rlhf_span_is_a_partial_success(
    receiver: OTLPReceiver, store: MemoryStore
) -> None:
    """A feedback span missing an attribute is rejected by count and reason; the rest is stored."""
    request = request_of(finished_spans(_three_and_feedback))
    spans = request.resource_spans[0].scope_spans[0].spans
    rating = next(s for s in spans if s.name == "feedback rating")
    kept = [kv for kv in rating.attributes if kv.key != A.RLHF_FEEDBACK_RATING]
    del rating.attributes[:]
    rating.attributes.extend(kept)
    binary = next(s for s in spans if s.name == "feedback binary")
    binary.span_id = b"\0" * 8
    response = post(receiver.endpoint, bytes(request.SerializeToString()))
    assert response.status_code == 200
    rejected, message = partial_success(response)
    assert rejected == 2
    assert "span 'feedback rating'" in message
    assert "missing attribute 'rlhf.feedback.rating'" in message
    assert "span 'feedback binary' has an invalid trace_id/span_id" in message
    assert sorted(fb.id for fb in store.scan_feedback()) == ["fb-compare", "fb-multi", "fb-text"]


def test_ordinary_spans_only_are_accepted_and_ignored(
    receiver: OTLPReceiver, store: MemoryStore
) -> None:
    """Spans that carry no record are a full success with nothing stored."""
    response = post(
        receiver.endpoint, protobuf_body(lambda t: [log_ordinary(t, n) for n in range(4)])
    )
    assert response.status_code == 200
    assert partial_success(response) == (0, "")
    assert len(store) == 0
    assert receiver.stats().spans_ignored == 4


def test_bearer_token_is_required_when_set(store: MemoryStore) -> None:
    """With a token, a missing or wrong one gets 401; the right one gets through."""
    body = protobuf_body(_three_and_feedback)
    with OTLPReceiver(store, ReceiverConfig(port=0, token="t0ken")) as rx:
        missing = post(rx.endpoint, body)
        wrong = post(rx.endpoint, body, headers={"Authorization": "Bearer nope"})
        right = post(rx.endpoint, body, headers={"Authorization": "bearer t0ken"})
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert missing.headers["www-authenticate"] == "Bearer"
    assert len(store) == 8


def test_other_paths_and_health(receiver: OTLPReceiver) -> None:
    """Unknown paths get 404; GET /healthz reports counters."""
    base = receiver.endpoint.removesuffix("/v1/traces")
    assert post(base + "/v1/metrics", b"").status_code == 404
    post(receiver.endpoint, protobuf_body(_three_and_feedback))
    health = client().get(base + "/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["interactions_stored"] == 3
    assert health.json()["responses"] == {"404": 1, "200": 1}


def test_binds_loopback_by_default(store: MemoryStore) -> None:
    """The default host is 127.0.0.1."""
    with OTLPReceiver(store, ReceiverConfig(port=0)) as rx:
        assert rx.address[0] == "127.0.0.1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 70000}, "port must be an int in 0..65535; got 70000"),
        ({"max_pending_records": 0}, "max_pending_records must be a positive int; got 0"),
        ({"ack_timeout": 0}, "ack_timeout must be > 0 seconds; got 0"),
        ({"path": "v1/traces"}, "path must start with '/'; got 'v1/traces'"),
        ({"token": "  "}, "token must be a non-empty string, or None for no auth"),
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, object], message: str) -> None:
    """Configuration errors say what was wrong and what is allowed."""
    with pytest.raises(ConfigurationError) as info:
        ReceiverConfig(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_chunked_body_is_accepted(receiver: OTLPReceiver, store: MemoryStore) -> None:
    """A body sent with chunked Transfer-Encoding (no Content-Length) is read and stored."""
    body = protobuf_body(_three_and_feedback)
    conn = http.client.HTTPConnection(*receiver.address, timeout=10)
    conn.request(
        "POST",
        "/v1/traces",
        body=iter([body[:100], body[100:]]),
        headers={"Content-Type": "application/x-protobuf"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 200
    assert len(store) == 8
