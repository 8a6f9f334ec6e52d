"""Traps in a JSONL store directory: FIFOs named like its files, lines that never end."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from rlhf_otel.records import interaction_to_dict
from rlhf_otel.stores.jsonl import JsonlStore
from rlhf_otel.stores.jsonl._format import dumps_line, gzip_member
from tests.stores.jsonl_support import interaction

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20
# A child that opens the store, reads everything and reports; the parent bounds its time and
# its address space, so a hang or a runaway allocation fails the test instead of the machine.
CHILD = r"""
import json, sys
from rlhf_otel.stores.jsonl._store import JsonlStore
options = json.loads(sys.argv[2])
store = JsonlStore(sys.argv[1], **options)
ids = [i.id for i in store.scan_interactions()]
got = store.get_interaction(sys.argv[3]) is not None
problems = dict(store.health().read_problems)
store.close()
status = open("/proc/self/status").read()
hwm = int(status.split("VmHWM:")[1].split()[0]) * 1024
print(json.dumps({"ids": ids, "got": got, "problems": problems, "hwm": hwm}))
"""


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def read_in_child(
    data_dir: Path, probe: str = "i0", timeout: float = 60.0, **options: Any
) -> dict[str, Any]:
    """Open and read the store in a child process (1 GiB address space, ``timeout`` s)."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(data_dir), json.dumps(options), probe],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=_limit_memory,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _cli_stats(data_dir: Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "rlhf_otel.cli._main",
            "stats",
            "--data-dir",
            str(data_dir),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=_limit_memory,
    )


def _store_with(tmp_path: Path, n: int = 3) -> Path:
    data_dir = tmp_path / "data"
    with JsonlStore(data_dir, max_file_size_mb=0.001) as store:
        store.write([interaction(k) for k in range(n)], [])
    return data_dir


def _sealed(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.glob("interactions-*.jsonl"))


def test_fifo_named_like_the_maintenance_lock_hangs_nothing(tmp_path: Path) -> None:
    """A FIFO in place of .maintenance.lock: JsonlStore() opens, reads, and `rlhf-otel
    stats` answers, instead of blocking forever on opening it."""
    data_dir = _store_with(tmp_path)
    (data_dir / ".maintenance.lock").unlink()
    os.mkfifo(data_dir / ".maintenance.lock")
    result = read_in_child(data_dir, timeout=30.0)
    assert result["ids"] == ["i0", "i1", "i2"]
    assert result["got"] is True
    assert result["problems"] == {"not_regular_file": 1}
    stats = _cli_stats(data_dir, timeout=30.0)
    assert stats.returncode == 0, stats.stderr[-2000:]


def test_fifos_named_like_segments_indexes_and_summaries_are_skipped(tmp_path: Path) -> None:
    """FIFOs named like a segment, an index and a summary are skipped and counted; every
    real record still reads."""
    data_dir = _store_with(tmp_path)
    stem = _sealed(data_dir)[0].removesuffix(".jsonl")
    for suffix in (".idx", ".sum"):
        (data_dir / (stem + suffix)).unlink(missing_ok=True)
        os.mkfifo(data_dir / (stem + suffix))
    os.mkfifo(data_dir / "interactions-20990101T000000000000Z-deadbeef-000001.jsonl")
    result = read_in_child(data_dir, timeout=30.0)
    assert result["ids"] == ["i0", "i1", "i2"]
    assert result["got"] is True
    assert result["problems"] == {"not_regular_file": 3}
    stats = _cli_stats(data_dir, timeout=30.0)
    assert stats.returncode == 0, stats.stderr[-2000:]


def _bomb_segment(path: Path, before: bytes, mib: int) -> None:
    """A gzip segment: one member of good lines, then a member inflating to ``mib`` MiB of
    ``a`` with no newline, written streaming (a few MB on disk)."""
    chunk = b"a" * MIB
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    # a full flush resets the compressor, so every further MiB compresses to the same bytes
    first = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    end = c.flush(zlib.Z_FINISH)[:-8]
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(chunk, crc)
    with open(path, "wb") as fh:
        fh.write(gzip_member(before))
        fh.write(first)
        for _ in range(mib - 1):
            fh.write(again)
        fh.write(end + crc.to_bytes(4, "little") + ((mib * MIB) & 0xFFFFFFFF).to_bytes(4, "little"))
    os.chmod(path, 0o600)


def _line(n: int) -> bytes:
    return dumps_line(interaction_to_dict(interaction(n)))


@pytest.mark.parametrize(
    ("mib", "options"),
    [(2048, {}), (48, {"max_line_bytes": 4 * MIB})],
    ids=["2GiB-default-cap", "48MiB-4MiB-cap"],
)
def test_gzip_bomb_segment_is_skipped_fast_with_flat_memory(
    tmp_path: Path, mib: int, options: dict[str, Any]
) -> None:
    """A compressed segment inflating to a line of 2 GiB with no newline: reads, lookups and
    stats skip it (counted as oversized_line) in well under 1 GiB of memory (the child runs
    under a hang guard), and the records before it and in other segments still read."""
    data_dir = _store_with(tmp_path, n=2)
    bomb = data_dir / "interactions-20250101T000000000000Z-0badf00d-000001.jsonl.gz"
    _bomb_segment(bomb, _line(100), mib)
    assert bomb.stat().st_size < 12 * MIB
    result = read_in_child(data_dir, probe="i100", timeout=60.0, **options)
    assert result["ids"] == ["i100", "i0", "i1"]
    assert result["got"] is True
    assert result["problems"] == {"oversized_line": 1}
    assert result["hwm"] < 400 * MIB
    stats = _cli_stats(data_dir, timeout=60.0)
    assert stats.returncode == 0, stats.stderr[-2000:]


def test_oversized_plain_line_is_skipped_and_reading_resumes(tmp_path: Path) -> None:
    """In a plain segment, a 12 MiB line over a 4 MiB cap is skipped and counted, and the
    line after it reads; memory stays near the cap."""
    data_dir = _store_with(tmp_path, n=1)
    plain = data_dir / "interactions-20250101T000000000000Z-0badf00d-000001.jsonl"
    with open(plain, "wb") as fh:
        fh.write(_line(100))
        for _ in range(12):
            fh.write(b"b" * MIB)
        fh.write(b"\n" + _line(101))
    os.chmod(plain, 0o600)
    result = read_in_child(data_dir, probe="i101", max_line_bytes=4 * MIB)
    assert result["ids"] == ["i100", "i101", "i0"]
    assert result["got"] is True
    assert result["problems"] == {"oversized_line": 1}
    assert result["hwm"] < 200 * MIB


def test_records_over_the_line_cap_are_counted_not_written(tmp_path: Path) -> None:
    """A record whose line would pass max_line_bytes is dropped as record_too_large, so the
    store never writes a line it would not read back."""
    with JsonlStore(tmp_path / "d", max_line_bytes=MIB) as store:
        big = dataclasses.replace(interaction(7), prompt="p" * (2 * MIB))
        store.write([interaction(1), big, interaction(2)], [])
        assert [i.id for i in store.scan_interactions()] == ["i1", "i2"]
        assert store.dropped() == {"record_too_large": 1}
