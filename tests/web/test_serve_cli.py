"""``rlhf-otel serve`` as a real process: feedback from HTTP lands in the local store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from rlhf_otel.stores import JsonlStore
from rlhf_otel.web import TokenKeys
from tests.web.conftest import SECRET


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_writes_to_the_local_store(tmp_path: Path) -> None:
    """The service started by the CLI stores a vote, refuses a foreign origin, and flushes
    the store when stopped with SIGTERM."""
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
        "--allow-origin",
        "http://app.test",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.1)
        token = TokenKeys({"k0": SECRET}, "k0").sign("chat-9", user_id="u-1")
        body = {"token": token, "type": "binary", "data": {"value": "thumbs_up"}, "client_key": "a"}
        r = httpx.post(f"{url}/feedback", json=body, headers={"origin": "http://app.test"})
        assert (r.status_code, r.headers["access-control-allow-origin"]) == (201, "http://app.test")
        r = httpx.post(
            f"{url}/feedback",
            json={**body, "client_key": "b"},
            headers={"origin": "http://evil.test"},
        )
        assert r.status_code == 403
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert proc.returncode == 143  # the CLI's code after SIGTERM, once the store is flushed
    with JsonlStore(tmp_path) as store:
        [fb] = list(store.scan_feedback())
    assert (fb.interaction_id, fb.user_id, fb.source, fb.data["value"]) == (
        "chat-9",
        "u-1",
        "web",
        "thumbs_up",
    )


def test_serve_needs_a_secret(tmp_path: Path) -> None:
    """Without RLHF_OTEL_FEEDBACK_SECRET the command says so in one line and exits 2."""
    env = {k: v for k, v in os.environ.items() if k != "RLHF_OTEL_FEEDBACK_SECRET"}
    done = subprocess.run(
        [sys.executable, "-m", "rlhf_otel.cli", "serve", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode, done.stderr) == (
        2,
        "rlhf-otel serve: error: set RLHF_OTEL_FEEDBACK_SECRET to the secret your app signs "
        "feedback tokens with\n",
    )
