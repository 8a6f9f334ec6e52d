"""SIGTERM, Ctrl-C and a closed pipe end the CLI cleanly; progress shows on a terminal only."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT, cli


def _start(*argv: str, **kwargs: object) -> subprocess.Popen[bytes]:
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-m", "rlhf_otel.cli", *argv], cwd=ROOT, **kwargs
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_temp(directory: Path, proc: subprocess.Popen[bytes]) -> list[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        temps = [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]
        if temps:
            return temps
        time.sleep(0.002)
    raise AssertionError("the export never created its temporary file")


@pytest.mark.parametrize(
    ("sig", "code", "message"),
    [
        (signal.SIGTERM, 143, b"rlhf-otel: terminated\n"),
        (signal.SIGINT, 130, b"rlhf-otel: interrupted\n"),
    ],
)
def test_signal_during_export_leaves_no_temporary_file(
    big_store_dir: Path, tmp_path: Path, sig: int, code: int, message: bytes
) -> None:
    """SIGTERM or Ctrl-C mid-export: one line on stderr, no traceback, no temp file left."""
    for attempt in range(5):
        out_dir = tmp_path / f"out-{attempt}"
        out_dir.mkdir()
        # Ctrl-C's default action, as in a terminal: a runner started in the background
        # hands its children SIGINT ignored, which the CLI rightly keeps.
        proc = _start("export", "--data-dir", str(big_store_dir), "--format", "json",
                      "--out", str(out_dir / "all.json"), preexec_fn=_default_sigint)  # fmt: skip
        temps = _wait_for_temp(out_dir, proc)
        assert temps[0].startswith(".all.json.")
        # Freeze the export, then check it is still mid-write: the signal must arrive while
        # the temporary file exists (a fast export may finish between the two steps).
        proc.send_signal(signal.SIGSTOP)
        if (out_dir / temps[0]).exists():
            break
        proc.send_signal(signal.SIGCONT)
        proc.communicate(timeout=60)
    else:
        raise AssertionError("the export finished before it could be stopped mid-write, 5 times")
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (code, message)
    assert list(out_dir.iterdir()) == []


def test_broken_stdout_pipe_exits_1_quietly(big_store_dir: Path) -> None:
    """A reader that goes away (``| head -1``) ends query with exit 1 and nothing on stderr."""
    proc = _start("query", "--data-dir", str(big_store_dir), "--json", "--limit", "20000")
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith(b'{"schema_version":1,"kind":"feedback"')
    proc.stdout.close()
    assert proc.wait(timeout=60) == 1
    assert proc.stderr is not None
    with proc.stderr:
        assert proc.stderr.read() == b""


def test_stats_full_shows_progress_on_a_terminal_only(big_store_dir: Path) -> None:
    """stats --full prints 'stats: N records read' on a terminal, nothing when piped."""
    master, replica = pty.openpty()
    proc = _start("stats", "--data-dir", str(big_store_dir), "--full", stderr=replica)
    os.close(replica)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert b"\rstats: 10,000 records read" in seen
    assert b"\rstats: 20,000 records read" in seen
    assert seen.endswith(b"\rstats: done" + b" " * 15 + b"\r\n")
    assert b"By model" in out
    piped = cli("stats", "--data-dir", str(big_store_dir), "--full")
    assert (piped.returncode, piped.stderr) == (0, "")
