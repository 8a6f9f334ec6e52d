"""The engine's memory limit, threads and spill directory: settable, and retried on OOM."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import duckdb
import pytest

from rlhf_otel.analytics import Engine, EngineConfig, engine_defaults
from rlhf_otel.cli import main
from rlhf_otel.stores import JsonlStore, MemoryStore

# a window over many partitions: 8 threads need more than 16MB, one thread does not
WINDOW = (
    "SELECT count(*) FROM (SELECT row_number() OVER (PARTITION BY i % 1000 ORDER BY i DESC) "
    "AS rn FROM range(2000000) t(i)) WHERE rn > 1"
)


def test_out_of_memory_step_is_retried_with_fewer_threads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A statement that runs out of memory for real is retried with fewer threads, counted
    and logged, and gives the right answer within the same memory limit."""
    raw = duckdb.connect(str(tmp_path / "raw.duckdb"))
    raw.execute("SET memory_limit = '16MB'")
    raw.execute("SET threads = 8")
    raw.execute(f"SET temp_directory = '{tmp_path / 'spill'}'")
    (configured,) = raw.execute("SELECT current_setting('memory_limit')").fetchall()[0]
    with pytest.raises(duckdb.OutOfMemoryException):
        raw.execute(WINDOW).fetchall()
    raw.close()
    caplog.set_level(logging.WARNING, logger="rlhf_otel.analytics")
    with Engine(MemoryStore(), EngineConfig(memory_limit="16MB", threads=8)) as eng:
        assert eng.sql(WINDOW).fetchall() == [(1_999_000,)]
        retries = eng.out_of_memory_retries
        (threads,) = eng.sql("SELECT current_setting('threads')").fetchall()[0]
        (limit,) = eng.sql("SELECT current_setting('memory_limit')").fetchall()[0]
    assert retries >= 1
    assert int(threads) < 8
    assert limit == configured
    lines = [r.getMessage() for r in caplog.records if "retrying the step" in r.getMessage()]
    assert len(lines) == retries


def test_explicit_values_beat_defaults_which_beat_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """EngineConfig fields, then engine_defaults (the CLI flags), then RLHF_OTEL_ANALYTICS_*."""
    monkeypatch.setenv("RLHF_OTEL_ANALYTICS_MEMORY_LIMIT", "300MB")
    monkeypatch.setenv("RLHF_OTEL_ANALYTICS_THREADS", "3")
    monkeypatch.setenv("RLHF_OTEL_ANALYTICS_TEMP_DIR", str(tmp_path / "env"))
    assert EngineConfig().resolved() == ("300MB", 3, str(tmp_path / "env"))
    with engine_defaults(EngineConfig(memory_limit="200MB", temp_dir=str(tmp_path / "flag"))):
        assert EngineConfig().resolved() == ("200MB", 3, str(tmp_path / "flag"))
        assert EngineConfig(memory_limit="100MB", threads=1).resolved() == (
            "100MB", 1, str(tmp_path / "flag"),
        )  # fmt: skip
    assert EngineConfig().resolved() == ("300MB", 3, str(tmp_path / "env"))


def test_cli_flags_set_the_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--memory-limit, --threads and --temp-dir reach the engine the command opens."""
    data = tmp_path / "data"
    JsonlStore(data).close()
    spill = tmp_path / "spill"
    spill.mkdir()
    query = (
        "SELECT current_setting('threads') AS t, current_setting('memory_limit') AS m, "
        "current_setting('temp_directory') AS d"
    )
    argv = ["sql", "--data-dir", str(data), "--json", "--memory-limit", "100MB", "--threads",
            "3", "--temp-dir", str(spill), query]  # fmt: skip
    assert main(argv) == 0
    got = json.loads(capsys.readouterr().out)
    assert int(got["t"]) == 3
    assert got["m"] in ("95.3 MiB", "100.0 MB")
    assert got["d"].startswith(str(spill) + "/rlhf-otel-analytics-")
    assert list(spill.iterdir()) == []  # the engine's private directory is gone


def test_cli_refuses_a_bad_thread_count(capsys: pytest.CaptureFixture[str]) -> None:
    """--threads 0 is refused in one line with exit 2."""
    with pytest.raises(SystemExit) as exc:
        main(["stats", "--threads", "0"])
    assert exc.value.code == 2
    assert "must be a whole number >= 1" in capsys.readouterr().err
