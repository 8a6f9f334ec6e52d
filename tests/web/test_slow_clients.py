"""The web servers against slow and vanishing clients on real sockets: header and body
deadlines, the connection cap, and uploads cut mid-body."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from rlhf_otel import RLHFLogger
from rlhf_otel.web import feedback_app, running_server
from tests.web.conftest import SECRET


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (TimeoutError, BlockingIOError):
        return False


def _dribble_until_closed(socks: list[socket.socket], bound: float = 60.0) -> int:
    """Send one byte a socket every 0.2 s until the server closes them; how many stay open
    after ``bound`` seconds (a hang guard, not a speed claim)."""
    open_ = list(socks)
    deadline = time.monotonic() + bound
    while open_ and time.monotonic() < deadline:
        still = []
        for s in open_:
            s.settimeout(0)
            try:
                s.sendall(b"a")
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
    return len(open_)


def test_slowloris_connections_are_closed(logger: RLHFLogger) -> None:
    """250 connections dribbling request headers, and 20 dribbling a body, are closed by
    the server, and a normal client is served while they are open."""
    app = feedback_app(logger)
    with running_server(app, header_timeout=1.0, body_timeout=1.0) as url:
        port = int(url.rsplit(":", 1)[1])
        slow = []
        for i in range(270):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            if i < 250:
                s.sendall(b"POST /feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nX-")
            else:
                s.sendall(
                    b"POST /feedback HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
                )
            slow.append(s)
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert _dribble_until_closed(slow) == 0
        token = logger.feedback_token("chat-1")
        vote = {"token": token, "type": "binary", "data": {"value": "thumbs_up"}, "client_key": "a"}
        assert httpx.post(f"{url}/feedback", json=vote).status_code == 201


def test_connections_past_the_cap_get_503(logger: RLHFLogger) -> None:
    """With max_connections=5, a sixth open connection is answered 503 JSON and closed;
    once the others close, requests are served again."""
    with running_server(feedback_app(logger), max_connections=5, header_timeout=60.0) as url:
        port = int(url.rsplit(":", 1)[1])
        held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(5)]
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
        extra = socket.create_connection(("127.0.0.1", port), timeout=30)
        answer = b""
        while chunk := extra.recv(4096):
            answer += chunk
        extra.close()
        for s in held:
            s.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert answer.startswith(b"HTTP/1.1 503")
    assert b'"error": "unavailable"' in answer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_uploads_cut_mid_body_are_one_line_each(tmp_path: Path) -> None:
    """`rlhf-otel serve` logs 25 uploads cut mid-body as 25 one-line entries: no
    traceback, no other line about them."""
    port = _free_port()
    env = {**os.environ, "RLHF_OTEL_FEEDBACK_SECRET": SECRET}
    cmd = [
        sys.executable,
        "-m",
        "rlhf_otel.cli",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path),
        "--log-level",
        "info",
    ]
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.1)
        for _ in range(25):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(
                b"POST /feedback HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b'Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"token": "'
                + b"x"
                * 200
            )
            time.sleep(0.05)  # the handler is reading the body when the client hangs up
            s.close()
        assert httpx.get(f"{url}/healthz").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    lines = err.decode().splitlines()
    assert "Traceback (most recent call last):" not in lines
    about = [line for line in lines if "hung up" in line]
    assert len(about) == 25, err.decode()[-3000:]
    ours = [
        line
        for line in lines
        if not line.startswith("INFO:  ")  # uvicorn's start, access and stop lines
        and "TracerProvider" not in line
        and line != "rlhf-otel: terminated"
    ]
    assert ours == about
    assert about[0] == (
        "INFO rlhf_otel.web: client 127.0.0.1 hung up before its request to POST /feedback was read"
    )


def test_next_request_after_an_early_answer_has_a_header_deadline(logger: RLHFLogger) -> None:
    """A request answered 413 before its body ended, then a slow next request on the same
    connection: the connection is closed once the next headers are overdue."""
    app = feedback_app(logger, max_body_bytes=10)
    with running_server(app, header_timeout=1.0, body_timeout=60.0) as url:
        port = int(url.rsplit(":", 1)[1])
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(
            b"POST /feedback HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413")
        s.sendall(b" " * 100 + b"GET /healthz HTTP/1.1\r\nX-")
        assert _dribble_until_closed([s]) == 0
