"""--out writes through FIFOs, symlinks and /dev/stdout, '-' is stdout, regular files are
replaced atomically; lone surrogates already on disk do not break any reader."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from tests.cli.conftest import cli


def _read_fifo(path: Path, into: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(path, "rb") as fh:
            into.append(fh.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("command", ["export", "report"])
def test_out_writes_through_a_fifo(small_store_dir: Path, tmp_path: Path, command: str) -> None:
    """A FIFO stays a FIFO: a reader on it gets the whole export or report."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    extra = ["--format", "jsonl"] if command == "export" else []
    done = cli(command, "--data-dir", str(small_store_dir), *extra, "--out", str(fifo))
    reader.join(30)
    assert (done.returncode, done.stderr) == (0, "")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    if command == "export":
        assert len(got[0].splitlines()) == 80
    else:
        assert got[0].startswith(b"<!DOCTYPE html>")
        assert got[0].rstrip().endswith(b"</html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


@pytest.mark.parametrize("command", ["export", "report"])
def test_out_follows_a_symlink(small_store_dir: Path, tmp_path: Path, command: str) -> None:
    """A symlink stays a symlink; its target gets the new content, owner-only."""
    target = tmp_path / "real" / "out.txt"
    target.parent.mkdir()
    target.write_text("old content\n")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    extra = ["--format", "jsonl"] if command == "export" else []
    done = cli(command, "--data-dir", str(small_store_dir), *extra, "--out", str(link))
    assert done.returncode == 0
    assert link.is_symlink()
    assert os.readlink(link) == str(target)
    text = target.read_text(encoding="utf-8")
    assert "old content" not in text
    assert len(text.splitlines()) == 80 if command == "export" else text.startswith("<!DOCTYPE")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_out_dash_writes_to_stdout(small_store_dir: Path) -> None:
    """--out - puts the export (or the report) on stdout and the summary on stderr."""
    done = cli("export", "--data-dir", str(small_store_dir), "--format", "jsonl", "--out", "-")
    assert done.returncode == 0
    kinds = [json.loads(line)["kind"] for line in done.stdout.splitlines()]
    assert kinds == ["interaction"] * 40 + ["feedback"] * 40
    assert "written to         standard output" in done.stderr
    done = cli("report", "--data-dir", str(small_store_dir), "--out", "-")
    assert done.returncode == 0
    assert done.stdout.startswith("<!DOCTYPE html>")
    assert done.stderr == ""


def test_out_dev_stdout_is_written_through(small_store_dir: Path, tmp_path: Path) -> None:
    """--out /dev/stdout appends to what the shell redirected stdout into, never renames."""
    sink = tmp_path / "sink.txt"
    sink.write_text("HEAD\n")
    with open(sink, "a", encoding="utf-8") as fh:
        done = cli(
            "export", "--data-dir", str(small_store_dir), "--format", "jsonl",
            "--out", "/dev/stdout", "--json", stdout=fh,
        )  # fmt: skip
    assert done.returncode == 0
    lines = sink.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "HEAD"
    assert [json.loads(line)["kind"] for line in lines[1:]] == ["interaction"] * 40 + [
        "feedback"
    ] * 40
    assert json.loads(done.stderr)["rows"] == 80
    assert os.path.islink("/dev/stdout")


def test_out_device_node_is_written_through(small_store_dir: Path) -> None:
    """--out /dev/null writes into the device; it stays a character device."""
    done = cli(
        "export", "--data-dir", str(small_store_dir), "--format", "csv", "--out", "/dev/null"
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "written to         /dev/null" in done.stdout
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_regular_file_replaced_atomically_owner_only(small_store_dir: Path, tmp_path: Path) -> None:
    """A regular file is replaced whole, mode 0600, with no temporary file left."""
    out = tmp_path / "x.csv"
    out.write_text("stale")
    out.chmod(0o644)
    done = cli("export", "--data-dir", str(small_store_dir), "--format", "csv", "--out", str(out))
    assert done.returncode == 0
    assert out.read_text(encoding="utf-8").startswith("kind,id,timestamp")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


def _surrogate_store(data_dir: Path) -> Path:
    """A store whose segments hold raw lines with an escaped lone surrogate (\\ud83d)."""
    data_dir.mkdir()
    it = (
        '{"schema_version":1,"kind":"interaction","id":"i1","timestamp":'
        '"2026-01-01T00:00:00.000000Z","prompt":"p\\ud83d","response":"r","model":"m",'
        '"provider":null,"model_params":{},"latency_ms":null,"token_usage":null,'
        '"user_id":"u\\ud83d","session_id":null,"context":[],"metadata":{"k\\ud83d":"v"},'
        '"response_id":null,"finish_reasons":[],"error_type":null,'
        '"time_to_first_token_ms":null,"trace_id":null,"span_id":null}\n'
    )
    fb = (
        '{"schema_version":1,"kind":"feedback","id":"f1","interaction_id":"i1","type":"text",'
        '"data":{"comment":"x\\ud83d","sentiment":null},"timestamp":'
        '"2026-01-01T00:00:01.000000Z","user_id":null,"session_id":null,"source":null,'
        '"metadata":{},"target_ids":["i1"],"trace_id":null,"span_id":null}\n'
    )
    (data_dir / "interactions-20260101T000000000000Z-abcdef01-000001.jsonl").write_text(it)
    (data_dir / "feedback-20260101T000000000000Z-abcdef01-000002.jsonl").write_text(fb)
    return data_dir


def test_readers_survive_lone_surrogates_on_disk(tmp_path: Path) -> None:
    """query, export (every record format, file or stdout) and report write U+FFFD for a lone
    surrogate already in a segment, and exit 0."""
    data = str(_surrogate_store(tmp_path / "data"))
    done = cli("query", "--data-dir", data)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[2].split()[-2:] == ["[-]", "x\ufffd"]
    done = cli("query", "--data-dir", data, "--kind", "interactions", "--json")
    assert done.returncode == 0
    record = json.loads(done.stdout)
    assert (record["prompt"], record["user_id"], record["metadata"]) == (
        "p\ufffd",
        "u\ufffd",
        {"k\ufffd": "v"},
    )
    done = cli("export", "--data-dir", data, "--format", "jsonl", "--out", "-")
    assert done.returncode == 0
    assert [json.loads(x)["id"] for x in done.stdout.splitlines()] == ["i1", "f1"]
    assert '"comment":"x\ufffd"' in done.stdout
    for fmt in ("json", "csv", "parquet"):
        out = tmp_path / f"out.{fmt}"
        done = cli("export", "--data-dir", data, "--format", fmt, "--out", str(out))
        assert (fmt, done.returncode, done.stderr) == (fmt, 0, "")
        if fmt != "parquet":
            assert "p\ufffd" in out.read_text(encoding="utf-8")
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column("prompt").to_pylist() == ["p\ufffd", None]
    assert table.column("comment").to_pylist() == [None, "x\ufffd"]
    done = cli("report", "--data-dir", data, "--out", str(tmp_path / "r.html"))
    assert done.returncode == 0
