"""``collect`` against web pages and slow clients: Host allow-list (DNS rebinding), framing
headers, header and body deadlines, connection cap, aborted uploads."""

from __future__ import annotations

import json
import logging
import socket
import time

import httpx
import pytest

from rlhf_otel.cli._main import build_parser
from rlhf_otel.receiver import OTLPReceiver, ReceiverConfig
from rlhf_otel.stores import MemoryStore
from tests.collector._app import log_interaction
from tests.collector._bodies import JSON, json_document, post, protobuf_body, request_of
from tests.collector._bodies import finished_spans as spans_of
from tests.collector.conftest import wait_for

GUARD = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "content-security-policy": "frame-ancestors 'none'",
}


def _json_export(n: int) -> bytes:
    doc = json_document(request_of(spans_of(lambda t: [log_interaction(t, i) for i in range(n)])))
    return json.dumps(doc).encode()


def test_rebinding_page_is_refused_with_421(receiver: OTLPReceiver, store: MemoryStore) -> None:
    """An OTLP JSON POST with a foreign Host and a matching Origin (a page reaching the
    receiver through DNS rebinding) gets 421 JSON and stores nothing; the bound address
    and localhost are served."""
    host, port = receiver.address
    body = _json_export(5)
    foreign = post(
        receiver.endpoint,
        body,
        JSON,
        {"Host": f"rebind.example:{port}", "Origin": f"http://rebind.example:{port}"},
    )
    assert foreign.status_code == 421
    assert foreign.json()["error"] == "misdirected"
    assert list(store.scan_interactions()) == []
    local = post(receiver.endpoint.replace(host, "localhost"), body, JSON)
    assert local.status_code == 200
    health = httpx.get(f"http://{host}:{port}/healthz", headers={"Host": "rebind.example"})
    assert health.status_code == 421
    assert len(list(store.scan_interactions())) == 5


def test_allowed_hosts_add_names(store: MemoryStore) -> None:
    """allowed_hosts names are served; others still get 421."""
    config = ReceiverConfig(port=0, allowed_hosts=("otlp.example",))
    with OTLPReceiver(store, config) as rx:
        body = protobuf_body(lambda t: log_interaction(t, 1))
        ok = post(rx.endpoint, body, headers={"Host": "otlp.example"})
        other = post(rx.endpoint, body, headers={"Host": "evil.example"})
    assert (ok.status_code, other.status_code) == (200, 421)


def test_every_answer_forbids_framing(receiver: OTLPReceiver) -> None:
    """200, 404, 415, 421 and the stock 501 all carry the anti-framing headers."""
    host, port = receiver.address
    base = f"http://{host}:{port}"
    body = protobuf_body(lambda t: log_interaction(t, 1))
    answers = [
        post(receiver.endpoint, body),
        httpx.get(f"{base}/nowhere"),
        post(receiver.endpoint, body, "text/plain"),
        httpx.get(f"{base}/healthz", headers={"Host": "evil.example"}),
        httpx.put(f"{base}/v1/traces", content=b""),
    ]
    assert [r.status_code for r in answers] == [200, 404, 415, 421, 501]
    assert [{k: r.headers.get(k) for k in GUARD} for r in answers] == [GUARD] * 5


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (TimeoutError, BlockingIOError):
        return False


def test_slow_headers_and_bodies_are_cut_off(store: MemoryStore) -> None:
    """200 connections dribbling headers, and 20 dribbling a body, are closed by the
    server (hang guard: within 60 s), while a normal exporter is served meanwhile."""
    config = ReceiverConfig(port=0, header_timeout=1.0, body_timeout=1.0)
    with OTLPReceiver(store, config) as rx:
        host, port = rx.address
        slow = []
        for i in range(220):
            s = socket.create_connection((host, port), timeout=30)
            if i < 200:
                s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-")
            else:
                s.sendall(
                    b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\nab"
                )
            slow.append(s)
        body = protobuf_body(lambda t: log_interaction(t, 1))
        assert post(rx.endpoint, body).status_code == 200
        open_ = list(slow)
        deadline = time.monotonic() + 60
        while open_ and time.monotonic() < deadline:
            still = []
            for s in open_:
                s.settimeout(0)
                try:
                    s.sendall(b"a")  # keep dribbling
                except OSError:
                    s.close()
                    continue
                if _closed(s):
                    s.close()
                else:
                    still.append(s)
            open_ = still
            time.sleep(0.2)
        for s in open_:
            s.close()
        assert len(open_) == 0
        later = protobuf_body(lambda t: log_interaction(t, 2))
        assert post(rx.endpoint, later).status_code == 200
    assert len(list(store.scan_interactions())) == 2


def test_connections_past_the_cap_get_503(store: MemoryStore) -> None:
    """With max_connections=5, a sixth open connection is answered 503 and closed; once
    the others close, a request is served again."""
    config = ReceiverConfig(port=0, max_connections=5, header_timeout=60.0)
    with OTLPReceiver(store, config) as rx:
        host, port = rx.address
        held = [socket.create_connection((host, port), timeout=30) for _ in range(5)]
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
        extra = socket.create_connection((host, port), timeout=30)
        answer = b""
        while chunk := extra.recv(4096):
            answer += chunk
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503")
        assert b"too many open connections" in answer
        for s in held:
            s.close()
        wait_for(lambda: httpx.get(f"http://{host}:{port}/healthz").status_code == 200)


def test_aborted_uploads_leave_no_traceback(
    receiver: OTLPReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """25 uploads cut mid-body log no traceback and no error; the receiver still serves."""
    host, port = receiver.address
    caplog.set_level(logging.DEBUG, logger="rlhf_otel")
    for _ in range(25):
        s = socket.create_connection((host, port), timeout=30)
        s.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-protobuf\r\nContent-Length: 5000\r\n\r\n" + b"x" * 100
        )
        s.close()
    body = protobuf_body(lambda t: log_interaction(t, 1))
    assert post(receiver.endpoint, body).status_code == 200
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING] == []


def test_collect_flags_reach_the_config() -> None:
    """--allowed-hosts (comma list, repeatable) and the deadlines reach ReceiverConfig."""
    from rlhf_otel.cli._collect import receiver_config

    args = build_parser().parse_args(
        [
            "collect",
            "--allowed-hosts",
            "a.example,b.example:8",
            "--allowed-hosts",
            ".c.example",
            "--header-timeout",
            "3",
            "--body-timeout",
            "4",
            "--max-connections",
            "7",
        ]
    )
    config = receiver_config(args, token=None)
    assert (
        config.allowed_hosts,
        config.header_timeout,
        config.body_timeout,
        config.max_connections,
    ) == (("a.example", "b.example:8", ".c.example"), 3.0, 4.0, 7)
