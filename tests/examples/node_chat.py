"""The Node chat of examples/typescript as a real process, and a capturing OTLP endpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = ROOT / "examples" / "typescript"
FLAVOURS = ("otel", "legacy", "v6", "v5")
SECRET = "test-secret-0123456789-abcdefghij"
MODELS = "gpt-4o-mini,agent,error-500"


def require_node_modules() -> None:
    """Fail (never skip) when the example's packages are not installed."""
    if not (EXAMPLE_DIR / "node_modules" / "ai" / "package.json").is_file():
        raise AssertionError(
            f"{EXAMPLE_DIR}/node_modules is missing: run ./scripts/setup.sh "
            "(it runs `npm ci` in examples/typescript)"
        )


class LoggedProcess:
    """A child process whose stderr is read line by line (so it never blocks on a full pipe)
    and kept; stopped with SIGTERM by its pid."""

    def __init__(self, cmd: list[str], *, env: Mapping[str, str], cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._ready = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._ready:
                self.lines.append(line)
                self._ready.notify_all()
        with self._ready:
            self.lines.append("")  # EOF
            self._ready.notify_all()

    def wait_for(self, prefix: str, timeout: float = 60.0) -> str:
        """The first stderr line containing ``prefix``; fails if the process ends first."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while True:
                for line in self.lines:
                    if prefix in line:
                        return line
                if self.lines and self.lines[-1] == "":
                    raise AssertionError(f"{self.proc.args!r} exited: {''.join(self.lines)}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.proc.args!r} printed no {prefix!r} in time")
                self._ready.wait(left)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then wait (SIGKILL after ``timeout``); the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return self.proc.returncode


@contextmanager
def node_chat(
    *,
    flavour: str,
    openai_base_url: str,
    traces_url: str,
    feedback_url: str,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Iterator[str]:
    """Run ``node server.mjs`` on a free 127.0.0.1 port; yield its base URL.

    SIGTERM on exit: the example flushes its spans before it stops.
    """
    require_node_modules()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "OPENAI_BASE_URL": openai_base_url,
        "OPENAI_API_KEY": "test",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces_url,
        "OTEL_SERVICE_NAME": "ai-sdk-chat",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "RLHF_OTEL_FEEDBACK_SECRET": SECRET,
        "RLHF_FEEDBACK_URL": feedback_url,
        "CHAT_MODELS": MODELS,
        "AI_SDK_TELEMETRY": flavour,
        "PORT": "0",
        **(extra_env or {}),
    }
    node = LoggedProcess(["node", "server.mjs"], env=env, cwd=EXAMPLE_DIR)
    try:
        yield node.wait_for("listening on ", timeout).split()[2]
    finally:
        code = node.stop()
    assert code == 0, f"the Node chat exited with {code}: {''.join(node.lines)}"


class OTLPCapture:
    """An OTLP/HTTP endpoint on 127.0.0.1 that keeps every body (Content-Length or chunked)."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, str, bytes]] = []
        lock = threading.Lock()
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802  # stdlib name
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        data += self.rfile.read(size)
                        self.rfile.readline()
                else:
                    data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    bodies.append((self.path, self.headers.get("Content-Type", ""), data))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The traces URL (``.../v1/traces``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/traces"

    def __enter__(self) -> OTLPCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
