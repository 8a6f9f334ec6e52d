"""``rlhf-otel collect`` as a real process: starts, stores, reports, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rlhf_otel import ConfigurationError
from rlhf_otel.cli._collect import open_store
from rlhf_otel.cli._main import build_parser
from tests.collector._app import log_interaction
from tests.collector._bodies import client, post, protobuf_body

ROOT = Path(__file__).resolve().parents[2]


def test_collect_runs_until_sigterm() -> None:
    """The subcommand listens on loopback, needs the env token, and exits 0 on SIGTERM."""
    env = dict(os.environ, RLHF_OTEL_COLLECT_TOKEN="tok", PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rlhf_otel.cli",
            "collect",
            "--backend",
            "memory",
            "--port",
            "0",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        while "listening on" not in line:
            assert line, "collect exited before listening"
            line = process.stderr.readline()
        url = line.split("listening on ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/v1/traces")
        body = protobuf_body(lambda t: [log_interaction(t, n) for n in range(2)])
        assert post(url, body).status_code == 401
        assert post(url, body, headers={"Authorization": "Bearer tok"}).status_code == 200
        health = client().get(
            url.removesuffix("/v1/traces") + "/healthz", headers={"Authorization": "Bearer tok"}
        )
        assert health.json()["interactions_stored"] == 2
    finally:
        os.kill(process.pid, signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "stopped: requests=1 spans=2 interactions=2 feedback=0 ignored=0 rejected=0" in err


def test_cli_has_collect_with_loopback_defaults() -> None:
    """The ``rlhf-otel`` CLI has a ``collect`` subcommand with loopback defaults."""
    args = build_parser().parse_args(["collect"])
    assert (args.command, args.host, args.port, args.backend) == (
        "collect",
        "127.0.0.1",
        4320,
        "local",
    )


def test_unknown_backend_is_refused() -> None:
    """The store seam names the backends it knows."""
    with pytest.raises(ConfigurationError) as info:
        open_store("postgres")
    assert str(info.value) == "unknown store backend 'postgres'; use one of local, zerodb, memory"
