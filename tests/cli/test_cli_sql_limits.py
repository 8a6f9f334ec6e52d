"""sql stops: --timeout, --max-rows, and SIGINT/SIGTERM end a running query cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT, cli

ENDLESS_COUNT = "SELECT count(*) AS n FROM range(1000000000000)"
ENDLESS_ROWS = "SELECT range AS n FROM range(1000000000000)"
HANG_GUARD_S = 120  # only a guard against a hang; nothing here measures speed


_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_process_left() -> Iterator[None]:
    """A test that fails mid-way must not leave an endless query running."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _start(temp: Path, *argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "RLHF_OTEL_ANALYTICS_TEMP_DIR": str(temp)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlhf_otel.cli", "sql", *argv],
        cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _STARTED.append(proc)
    return proc


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime + stime of every thread


def _wait_until_querying(temp: Path, proc: subprocess.Popen[str]) -> None:
    """Block until the engine's directory exists and, after it, the process has spent half a
    second of CPU: the query itself is running (it prints nothing until it ends)."""
    start: int | None = None
    ticks = os.sysconf("SC_CLK_TCK")
    while proc.poll() is None:
        if start is None and any(p.name.startswith("rlhf-otel-analytics-") for p in temp.iterdir()):
            start = _cpu_ticks(proc.pid)
        if start is not None and _cpu_ticks(proc.pid) - start >= ticks // 2:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.01)
    raise AssertionError(f"sql ended before its query ran: {proc.communicate()}")


@pytest.mark.parametrize(
    ("sig", "code", "message"),
    [
        (signal.SIGTERM, 143, "rlhf-otel: terminated\n"),
        (signal.SIGINT, 130, "rlhf-otel: interrupted\n"),
    ],
)
def test_signal_stops_a_running_aggregate(
    small_store_dir: Path, tmp_path: Path, sig: int, code: int, message: str
) -> None:
    """SIGTERM/SIGINT during count(*) over 10^12 rows: exit 143/130, one line, no temp left."""
    temp = tmp_path / "temp"
    temp.mkdir()
    proc = _start(temp, "--timeout", "0", "--data-dir", str(small_store_dir), ENDLESS_COUNT)
    _wait_until_querying(temp, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=HANG_GUARD_S)
    assert (proc.returncode, out, err) == (code, "", message)
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_a_query_while_rows_stream(
    small_store_dir: Path, tmp_path: Path, sig: int, code: int
) -> None:
    """A signal while --json rows stream (the first row proves the query runs) stops it."""
    temp = tmp_path / "temp"
    temp.mkdir()
    argv = ("--json", "--max-rows", "0", "--timeout", "0", "--data-dir", str(small_store_dir))
    proc = _start(temp, *argv, ENDLESS_ROWS)
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline()) == {"n": 0}
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=HANG_GUARD_S)
    word = "terminated" if sig == signal.SIGTERM else "interrupted"
    assert (proc.returncode, err) == (code, f"rlhf-otel: {word}\n")
    assert list(temp.iterdir()) == []


def test_timeout_stops_the_query_with_one_line(small_store_dir: Path, tmp_path: Path) -> None:
    """--timeout 1 on an endless count exits 2 naming the flag; the temp directory is gone."""
    temp = tmp_path / "temp"
    temp.mkdir()
    proc = _start(temp, "--timeout", "1", "--data-dir", str(small_store_dir), ENDLESS_COUNT)
    out, err = proc.communicate(timeout=HANG_GUARD_S)
    assert (proc.returncode, out) == (2, "")
    assert err == (
        "rlhf-otel: error: SQL: the query ran past --timeout 1 s and was stopped (narrow it, "
        "add a LIMIT, or raise --timeout; 0: never)\n"
    )
    assert list(temp.iterdir()) == []


def test_max_rows_cuts_the_output_and_says_so(small_store_dir: Path) -> None:
    """--max-rows 5 over an endless query prints 5 rows, then one line on stderr; exit 0."""
    result = cli(
        "sql", "--json", "--max-rows", "5", "--data-dir", str(small_store_dir), ENDLESS_ROWS
    )
    assert result.returncode == 0
    assert [json.loads(x) for x in result.stdout.splitlines()] == [{"n": i} for i in range(5)]
    assert result.stderr == (
        "rlhf-otel sql: output cut at --max-rows 5; the query has more rows (add a LIMIT, or "
        "raise --max-rows; 0: all)\n"
    )
    table = cli("sql", "--max-rows", "2", "--data-dir", str(small_store_dir), ENDLESS_ROWS)
    assert (table.returncode, table.stdout) == (0, "n\n-\n0\n1\n(2 rows shown)\n")
    assert table.stderr.startswith("rlhf-otel sql: output cut at --max-rows 2;")


def test_rows_within_max_rows_are_all_printed_without_a_note(small_store_dir: Path) -> None:
    """A result of exactly --max-rows rows is printed whole, with no cut note."""
    query = "SELECT range AS n FROM range(3)"
    result = cli("sql", "--max-rows", "3", "--data-dir", str(small_store_dir), query)
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "n\n-\n0\n1\n2\n(3 rows)\n",
        "",
    )


@pytest.mark.parametrize(
    ("flag", "value"), [("--timeout", "-1"), ("--timeout", "soon"), ("--max-rows", "-3")]
)
def test_bad_limits_exit_2(small_store_dir: Path, flag: str, value: str) -> None:
    """A negative or non-numeric --timeout/--max-rows exits 2 with one line."""
    result = cli("sql", flag, value, "--data-dir", str(small_store_dir), "SELECT 1")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert flag in result.stderr


def test_a_bad_engine_memory_limit_exits_2(small_store_dir: Path) -> None:
    """--memory-limit DuckDB cannot read is a bad argument: exit 2 with one line."""
    result = cli("sql", "--memory-limit", "abc", "--data-dir", str(small_store_dir), "SELECT 1")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "rlhf-otel: error: memory_limit 'abc' is not a size DuckDB accepts (e.g. 512MB, 2GB)\n"
    )
