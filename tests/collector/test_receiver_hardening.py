"""The receiver against hostile and unlucky clients: bombs, odd gzip, deep JSON, cut
connections, huge prompts and bodies."""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.trace import SpanKind, Tracer

from rlhf_otel import redact_secrets
from rlhf_otel.cli._main import build_parser
from rlhf_otel.receiver import OTLPReceiver, ReceiverConfig
from rlhf_otel.recording import interaction_span_name, interaction_to_attributes
from rlhf_otel.records import Feedback, Interaction
from rlhf_otel.stores import MemoryStore
from tests.collector._app import T0, log_interaction
from tests.collector._bodies import JSON, PROTOBUF, client, partial_success, post, protobuf_body
from tests.guards import returns

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20


def _status(content: bytes) -> tuple[int, str]:
    status = status_pb2.Status.FromString(content)
    return int(status.code), str(status.message)


def gzip_bomb(compressed_bytes: int) -> bytes:
    """A gzip body of about ``compressed_bytes`` that inflates ~220 times (zeros)."""
    chunk = b"\0" * MIB
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    n = max(compressed_bytes // len(again), 2)
    return first + again * (n - 1) + c.flush(zlib.Z_FINISH)


RECEIVER_CHILD = r"""
import sys
from rlhf_otel.receiver._server import OTLPReceiver, ReceiverConfig
from rlhf_otel.stores import MemoryStore
rx = OTLPReceiver(MemoryStore(max_entries=None), ReceiverConfig(port=0)).start()
print(rx.endpoint, flush=True)
sys.stdin.read()
status = open("/proc/self/status").read()
print(int(status.split("VmHWM:")[1].split()[0]) * 1024, flush=True)
rx.shutdown(5.0)
"""


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def test_concurrent_gzip_bombs_keep_memory_bounded() -> None:
    """64 concurrent 1 MB gzip bombs get 413 (or 503 when the shared inflate budget is
    spent) while the receiver's peak RSS stays under 768 MiB (it reached 5.6 GiB), and a
    normal export right after is stored."""
    with subprocess.Popen(
        [sys.executable, "-c", RECEIVER_CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        preexec_fn=_limit_memory,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MALLOC_ARENA_MAX": "2"},
    ) as child:
        assert child.stdout is not None
        assert child.stdin is not None
        try:
            url = child.stdout.readline().strip()
            host, port = url.removeprefix("http://").split("/", 1)[0].split(":")
            bomb = gzip_bomb(MIB)
            assert len(bomb) >= MIB - 16 * 1024
            codes: list[int] = []
            gate = threading.Barrier(64)

            def fire() -> None:
                conn = http.client.HTTPConnection(host, int(port), timeout=120)
                gate.wait()
                conn.request(
                    "POST",
                    "/v1/traces",
                    bomb,
                    {"Content-Type": PROTOBUF, "Content-Encoding": "gzip"},
                )
                codes.append(conn.getresponse().status)
                conn.close()

            threads = [threading.Thread(target=fire) for _ in range(64)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(180)
            assert len(codes) == 64
            assert set(codes) <= {413, 503}
            assert 413 in codes
            body = protobuf_body(lambda t: [log_interaction(t, n) for n in range(2)])
            assert post(url, body).status_code == 200
            child.stdin.close()
            peak = int(child.stdout.readline())
            assert peak < 768 * MIB, f"peak RSS {peak / MIB:.0f} MiB"
        finally:
            child.kill()


def test_multi_member_gzip_body_is_decoded_whole(
    receiver: OTLPReceiver, store: MemoryStore
) -> None:
    """A gzip body of two members (each a protobuf export) stores the spans of both; two
    JSON documents in two members are refused with 400, never half stored."""
    first = protobuf_body(lambda t: [log_interaction(t, n) for n in range(3)])
    second = protobuf_body(lambda t: [log_interaction(t, n) for n in range(3, 5)])
    response = post(
        receiver.endpoint,
        gzip.compress(first) + gzip.compress(second),
        headers={"Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert len(list(store.scan_interactions())) == 5
    doc = b'{"resourceSpans": []}'
    response = post(
        receiver.endpoint,
        gzip.compress(doc) + gzip.compress(doc),
        JSON,
        headers={"Content-Encoding": "gzip"},
    )
    assert response.status_code == 400
    padded = gzip.compress(first) + b"\0" * 64
    response = post(receiver.endpoint, padded, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200
    response = post(
        receiver.endpoint, gzip.compress(first) + b"garbage", headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 400


def _nested_any_value(depth: int) -> bytes:
    """A protobuf export whose one attribute nests ``depth`` kvlists."""
    value = b""
    for _ in range(depth):
        value = _field(6, _field(1, _field(1, b"k") + _field(2, value)))
    attr = _field(1, b"a") + _field(2, value)
    span = _field(1, b"\1" * 16) + _field(2, b"\2" * 8) + _field(5, b"s") + _field(9, attr)
    return _field(1, _field(2, _field(2, span)))


def _field(number: int, payload: bytes) -> bytes:
    key = (number << 3) | 2
    return _varint(key) + _varint(len(payload)) + payload


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def test_deeply_nested_bodies_are_400_without_traceback(
    receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """JSON nested 5,000 deep (and a protobuf attribute nested 5,000 deep) answers 400, and
    nothing logs a traceback."""
    caplog.set_level(logging.DEBUG)
    deep = b'{"resourceSpans": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = post(receiver.endpoint, deep, JSON)
    assert response.status_code == 400
    assert "nested" in _json_message(response)
    deep_value = (
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "a", '
        b'"value": '
        + b'{"kvlistValue": {"values": [{"key": "k", "value": ' * 5000
        + b"{}"
        + b"}]}}" * 5000
        + b"}]}]}]}]}"
    )
    response = post(receiver.endpoint, deep_value, JSON)
    assert response.status_code == 400
    response = post(receiver.endpoint, _nested_any_value(5000))
    assert response.status_code == 400
    assert receiver.stats().responses == {400: 3}
    assert [r for r in caplog.records if r.exc_info] == []
    assert "Traceback" not in capfd.readouterr().err


def _json_message(response: httpx.Response) -> str:
    return str(json.loads(response.content).get("message", ""))


def _abort(sock: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0), as a client that dies does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class SlowStore(MemoryStore):
    """A store whose writes take 50 ms, so a client can vanish while its request waits."""

    def write(self, interactions: Sequence[Interaction], feedback: Sequence[Feedback]) -> None:
        time.sleep(0.05)
        super().write(interactions, feedback)


def test_client_disconnects_log_no_traceback(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Clients that vanish mid-headers, mid-body or before reading the answer (30 of them)
    leave no traceback on stderr or in the log, at most one DEBUG line each about it, and
    the receiver keeps serving."""
    caplog.set_level(logging.DEBUG, logger="rlhf_otel.collect")
    store = SlowStore(max_entries=None)
    with OTLPReceiver(store, ReceiverConfig(port=0)) as receiver:
        host, port = receiver.address
        body = protobuf_body(lambda t: [log_interaction(t, n) for n in range(2)])
        head = (
            f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PROTOBUF}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        for _ in range(10):
            for cut in ("headers", "body", "answer"):
                sock = socket.create_connection((host, port))
                if cut == "headers":
                    sock.sendall(head[:20])
                elif cut == "body":
                    sock.sendall(head + body[: len(body) // 2])
                else:
                    sock.sendall(head + body)
                time.sleep(0.02)
                _abort(sock)
        time.sleep(0.5)
        assert post(receiver.endpoint, body).status_code == 200
    assert "Traceback" not in capfd.readouterr().err
    assert [r for r in caplog.records if r.exc_info] == []
    assert [r.levelname for r in caplog.records if r.levelno > logging.INFO] == []
    went_away = [r for r in caplog.records if "went away" in r.getMessage()]
    assert 1 <= len(went_away) <= 30


def _big_prompt(tracer: Tracer, prompt: str, user_id: str | None = None) -> None:
    it = Interaction(
        id="unused",
        prompt=prompt,
        response="fine",
        timestamp=T0,
        model="m",
        context=[{"role": "user", "content": "c" * 300_000}] * 3,
        user_id=user_id,
    )
    with tracer.start_as_current_span(
        interaction_span_name(it.model),
        kind=SpanKind.CLIENT,
        attributes=interaction_to_attributes(it),
    ):
        pass


def test_logger_limits_and_redaction_apply_to_received_records(store: MemoryStore) -> None:
    """A 12 MB prompt arriving over OTLP is cut to the logger's default 100,000 characters
    (with the marker, and counted), context messages too, and the configured redactor runs
    on every text."""
    config = ReceiverConfig(port=0, redact=(redact_secrets,))
    with OTLPReceiver(store, config) as rx:
        big = "x" * (12 * 1000 * 1000)
        response = post(rx.endpoint, protobuf_body(lambda t: _big_prompt(t, big)))
        assert response.status_code == 200
        assert rx.stats().truncated == 4
        secret = "my key is sk-proj-" + "a" * 40 + ", mail bob@example.com"
        response = post(
            rx.endpoint, protobuf_body(lambda t: _big_prompt(t, secret, user_id="bob@example.com"))
        )
        assert response.status_code == 200
        response = post(
            rx.endpoint, protobuf_body(lambda t: _big_prompt(t, "hi", user_id="u" * 1_000_000))
        )
        assert response.status_code == 200
        rejected, message = partial_success(response)
        assert rejected == 1
        assert re.fullmatch(
            r"rejected 1 span\(s\): interaction '[0-9a-f]{32}-[0-9a-f]{16}': user_id is "
            r"1,000,000 characters long; at most 256 are allowed",
            message,
        )
    first, second = sorted(store.scan_interactions(), key=lambda it: len(it.prompt))[::-1]
    assert len(first.prompt) == 100_000
    assert first.prompt.endswith("…[truncated 11900000 chars]")
    assert [len(m["content"]) for m in first.context] == [100_000] * 3
    assert second.prompt == "my key is [REDACTED:api_key], mail [REDACTED:email]"
    assert second.user_id == "[REDACTED:email]"


def test_redaction_of_a_long_word_run_stays_linear(store: MemoryStore) -> None:
    """With redaction on, a 2 MB prompt of one unbroken word is stored (the e-mail pattern
    was quadratic on such runs and never finished; a hang guard catches that)."""
    with OTLPReceiver(
        store, ReceiverConfig(port=0, redact=(redact_secrets,), max_prompt_chars=None)
    ) as rx:
        body = protobuf_body(lambda t: _big_prompt(t, "x" * 2_000_000))
        response = returns(lambda: post(rx.endpoint, body))
        assert response.status_code == 200
    assert [len(it.prompt) for it in store.scan_interactions()] == [2_000_000]


def test_collect_exposes_the_content_limits() -> None:
    """`rlhf-otel collect` takes the logger's size limits and the built-in redactor."""
    from rlhf_otel.cli._collect import receiver_config

    args = build_parser().parse_args(
        [
            "collect",
            "--max-prompt-chars",
            "500",
            "--max-response-chars",
            "600",
            "--max-text-chars",
            "700",
            "--max-context-messages",
            "5",
            "--redact-secrets",
        ]
    )
    config = receiver_config(args, token=None)
    assert (
        config.max_prompt_chars,
        config.max_response_chars,
        config.max_text_chars,
        config.max_context_messages,
    ) == (500, 600, 700, 5)
    assert config.redact == (redact_secrets,)
    default = receiver_config(build_parser().parse_args(["collect"]), token=None)
    assert (default.max_prompt_chars, default.max_context_messages, default.redact) == (
        100_000,
        100,
        (),
    )


def test_body_over_limit_gets_a_readable_413(receiver: OTLPReceiver) -> None:
    """A 17 MiB body (over the 16 MiB default) is answered with a readable 413 and
    Connection: close, not a connection reset; the receiver then takes the next request."""
    body = b"\0" * (17 * MIB)
    host, port = receiver.address
    for _ in range(3):
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("POST", "/v1/traces", body, {"Content-Type": PROTOBUF})
        answer = conn.getresponse()
        assert answer.status == 413
        assert answer.getheader("Connection") == "close"
        assert _status(answer.read())[1] == (
            f"body of {17 * MIB} bytes is over the {16 * MIB}-byte limit"
        )
        conn.close()
    chunked = client().post(
        receiver.endpoint, content=iter([body[:MIB]] * 17), headers={"Content-Type": PROTOBUF}
    )
    assert chunked.status_code == 413
    ok = post(receiver.endpoint, protobuf_body(lambda t: log_interaction(t, 1)))
    assert ok.status_code == 200


def test_expect_continue_over_limit_is_answered_before_the_body(receiver: OTLPReceiver) -> None:
    """With Expect: 100-continue, an over-limit body is refused with 413 without sending it."""
    host, port = receiver.address
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            (
                f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PROTOBUF}\r\n"
                f"Content-Length: {17 * MIB}\r\nExpect: 100-continue\r\n\r\n"
            ).encode()
        )
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer
