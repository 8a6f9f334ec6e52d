"""A real rotel collector (``pip install rotel``) on free loopback ports, run from a profile."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROTEL_DIR = Path(__file__).resolve().parents[2] / "collector-config" / "rotel"
RUN_ROTEL = ROTEL_DIR / "run-rotel.sh"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class Rotel:
    """A running rotel: where apps send OTLP/HTTP, and its process."""

    http_port: int
    grpc_port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def endpoint(self) -> str:
        """OTLP/HTTP traces URL of this collector."""
        return f"http://127.0.0.1:{self.http_port}/v1/traces"

    def log(self) -> str:
        """What rotel printed so far."""
        return self.log_path.read_text(errors="replace")


@contextmanager
def run_rotel(
    profile: str, exporter_endpoint: str, log_dir: Path, env: Mapping[str, str] | None = None
) -> Iterator[Rotel]:
    """Start ``collector-config/rotel/run-rotel.sh PROFILE`` exporting to ``exporter_endpoint``.

    Waits until both receiver ports accept connections; stops rotel with SIGTERM (by pid) on
    exit, so it flushes what it holds.
    """
    http_port, grpc_port = free_port(), free_port()
    child_env = dict(os.environ)
    child_env.update(
        PYTHON=sys.executable,
        ROTEL_OTLP_HTTP_ENDPOINT=f"127.0.0.1:{http_port}",
        ROTEL_OTLP_GRPC_ENDPOINT=f"127.0.0.1:{grpc_port}",
        ROTEL_OTLP_EXPORTER_ENDPOINT=exporter_endpoint,
        ROTEL_BATCH_TIMEOUT="20ms",
        ROTEL_LOG_FORMAT="json",
    )
    child_env.update(env or {})
    log_path = log_dir / f"rotel-{profile}-{http_port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["bash", str(RUN_ROTEL), profile], env=child_env, stdout=log, stderr=subprocess.STDOUT
        )
    rotel = Rotel(http_port, grpc_port, process, log_path)
    try:
        deadline = time.monotonic() + 15
        while not (_accepts(http_port) and _accepts(grpc_port)):
            if process.poll() is not None:
                raise RuntimeError(f"rotel exited with {process.returncode}:\n{rotel.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"rotel did not listen within 15 s:\n{rotel.log()}")
            time.sleep(0.05)
        yield rotel
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(5)
