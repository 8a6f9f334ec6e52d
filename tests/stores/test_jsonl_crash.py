"""The JSONL store under crashes, damaged files, full disks and several processes."""

from __future__ import annotations

import errno
import gzip
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
import zlib
from collections import Counter
from pathlib import Path

import pytest

from rlhf_otel.stores.jsonl import JsonlStore
from rlhf_otel.stores.jsonl import _fs as _jsonl_fs
from tests.stores.jsonl_support import feedback, ids_in_files, interaction, raw_lines

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("jsonl_child.py")


def _child(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args], stdout=subprocess.PIPE, text=True, env=env
    )


def test_torn_final_line_is_moved_aside_and_counted(tmp_path: Path) -> None:
    """A crash mid-line leaves a fragment that the next open moves aside and counts."""
    data = tmp_path / "data"
    code = (
        "import os, signal, sys\n"
        "from rlhf_otel.stores.jsonl._store import JsonlStore\n"
        "from tests.stores.jsonl_support import interaction\n"
        "s = JsonlStore(sys.argv[1])\n"
        "s.write([interaction(n) for n in range(10)], [])\n"
        "name = [n for n in os.listdir(sys.argv[1]) if n.endswith('.active.jsonl')][0]\n"
        "with open(os.path.join(sys.argv[1], name), 'ab') as f:\n"
        '    f.write(b\'{"schema_version":1,"kind":"interaction","id":"i10","time\')\n'
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code, str(data)], env=env, check=False)
    assert proc.returncode == -signal.SIGKILL
    with JsonlStore(data) as store:
        assert store.dropped() == {"torn_line": 1}
        assert [it.id for it in store.scan_interactions()] == [f"i{n}" for n in range(10)]
        torn = [p for p in data.iterdir() if p.name.endswith(".torn")]
        assert len(torn) == 1
        assert (
            torn[0].read_bytes().startswith(b'{"schema_version":1,"kind":"interaction","id":"i10"')
        )
    with JsonlStore(data) as store:
        assert store.dropped() == {}


def test_truncated_gzip_gives_back_every_complete_line(tmp_path: Path) -> None:
    """A .gz cut short still yields every line before the cut; the loss is reported."""
    data = tmp_path / "data"
    with JsonlStore(data, max_file_size_mb=0.05, compress=True) as store:
        for start in range(0, 400, 50):
            store.write([interaction(n) for n in range(start, start + 50)], [])
        store.flush()
    with JsonlStore(data, compress=True) as store:  # compresses what the close sealed
        deadline = time.monotonic() + 10
        while any(p.name.endswith(".jsonl") for p in data.iterdir()):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    gz = sorted(p for p in data.iterdir() if p.name.endswith(".gz"))[0]
    blob = gz.read_bytes()
    gz.write_bytes(blob[: len(blob) * 2 // 3])
    d = zlib.decompressobj(31)
    complete = d.decompress(blob[: len(blob) * 2 // 3])
    while d.eof and d.unused_data:
        rest = d.unused_data
        d = zlib.decompressobj(31)
        complete += d.decompress(rest)
    expected = [json.loads(x)["id"] for x in complete.split(b"\n")[:-1]]
    with JsonlStore(data) as store:
        got = [it.id for it in store.scan_interactions()]
        assert got[: len(expected)] == expected
        assert len(got) < 400
        assert store.health().read_problems.get("truncated_gzip") == 1
        assert store.get_interaction(expected[-1]) is not None


def test_disk_full_is_counted_warned_and_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ENOSPC at the write seam drops the batch (counted, warned) and writing resumes."""
    store = JsonlStore(tmp_path / "data")
    store.write([interaction(1)], [])
    real = _jsonl_fs.write_all

    def full(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])  # a partial write, as a filling disk does
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_jsonl_fs, "write_all", full)
    with caplog.at_level(logging.WARNING, logger="rlhf_otel.stores.jsonl"):
        store.write([interaction(2), interaction(3)], [feedback(2, "i2")])
        store.write([interaction(4)], [])
    assert store.dropped() == {"disk_full": 4}
    assert sum("cannot write" in r.getMessage() for r in caplog.records) == 1
    monkeypatch.setattr(_jsonl_fs, "write_all", real)
    store.write([interaction(5)], [feedback(5, "i5")])
    assert [it.id for it in store.scan_interactions()] == ["i1", "i5"]
    assert [fb.id for fb in store.scan_feedback()] == ["f5"]
    store.close()
    assert ids_in_files(tmp_path / "data") == ["f5", "i1", "i5"]


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Path:
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("mounting a tmpfs needs root")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_real_full_disk_then_space_comes_back(tiny_tmpfs: Path) -> None:
    """On a real 256 KiB tmpfs, writes past the end are counted and resume after cleanup."""
    ballast = tiny_tmpfs / "ballast"
    ballast.write_bytes(b"\0" * 150_000)
    store = JsonlStore(tiny_tmpfs / "data", fsync="batch")
    written = 0
    for n in range(400):
        store.write([interaction(n)], [])
        written += 1
    dropped = store.dropped().get("disk_full", 0)
    stored = len(list(store.scan_interactions()))
    assert dropped > 0
    assert stored + dropped == written
    ballast.unlink()
    store.write([interaction(1000)], [])
    assert store.get_interaction("i1000") == interaction(1000)
    assert store.dropped()["disk_full"] == dropped
    store.close()
    lines = raw_lines(tiny_tmpfs / "data")
    assert all(json.loads(x) for ls in lines.values() for x in ls[:-1])
    assert all(ls[-1] == b"" for ls in lines.values())


def test_two_processes_write_one_directory(tmp_path: Path) -> None:
    """Two processes writing at once leave only whole lines and every record once."""
    data = tmp_path / "data"
    procs = [_child(str(data), "count", p, "1500") for p in ("a", "b")]
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert (proc.returncode, out) == (0, "done\n")
    ids = ids_in_files(data)
    expected = {f"{p}-{k}{n}" for p in "ab" for k in "if" for n in range(1500)}
    assert len(ids) == len(expected) == 6000
    assert set(ids) == expected
    with JsonlStore(data) as store:
        assert len({it.id for it in store.scan_interactions()}) == 3000
        assert store.get_feedback("b-f1499") is not None
        assert store.dropped() == {}


def test_kill_dash_nine(tmp_path: Path) -> None:
    """22 SIGKILLs at random moments, in rotation and in compression, lose no acked record."""
    data = tmp_path / "data"
    rng = __import__("random").Random(7)
    acked: dict[str, int] = {}
    compressing_kills = 0
    for run in range(22):
        prefix = f"r{run}-{uuid.uuid4().hex[:4]}"
        proc = _child(str(data), "flood", prefix)
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("ack ")
        mode = run % 3
        time.sleep(rng.uniform(0.0, 0.4))
        deadline = time.monotonic() + 3.0
        if mode == 0:  # the moment a compression is in progress
            while time.monotonic() < deadline and not any(
                n.endswith(".tmp") for n in os.listdir(data)
            ):
                pass
        elif mode == 1:  # the moment a new segment appears (rotation)
            before = {n for n in os.listdir(data) if n.endswith(".active.jsonl")}
            while time.monotonic() < deadline and before == {
                n for n in os.listdir(data) if n.endswith(".active.jsonl")
            }:
                pass
        else:
            time.sleep(rng.uniform(0.0, 0.6))
        names = os.listdir(data)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        compressing_kills += any(n.endswith(".tmp") for n in names)
        acks = [int(line.split()[1]) for line in proc.stdout.read().splitlines() if line]
        proc.stdout.close()
        acked[prefix] = max(acks, default=0)
        # at most one torn line per segment, and only as its last line
        for _name, lines in raw_lines(data).items():
            for line in lines[:-2]:
                json.loads(line)
            if lines[-1] == b"" and len(lines) > 1:
                json.loads(lines[-2])
        with JsonlStore(data) as store:
            assert store.dropped().get("torn_line", 0) <= 2
            last = acked[prefix]
            for n in (0, last // 2, last):
                k = n * 25 + 24
                assert store.get_interaction(f"{prefix}-i{k}") is not None, (run, n)
                assert store.get_feedback(f"{prefix}-f{k}") is not None, (run, n)
    ids = Counter(ids_in_files(data))
    assert [i for i, c in ids.items() if c > 1] == []
    for prefix, last in acked.items():
        for k in range((last + 1) * 25):
            assert f"{prefix}-i{k}" in ids
            assert f"{prefix}-f{k}" in ids
    assert compressing_kills >= 1
    with JsonlStore(data):
        pass
    assert [n for n in os.listdir(data) if n.endswith((".tmp", ".new", ".active.jsonl"))] == []
    gz = [p for p in data.iterdir() if p.name.endswith(".gz")]
    assert gz
    assert all(gzip.decompress(p.read_bytes()) for p in gz)


def test_crash_between_compress_rename_and_unlink(tmp_path: Path) -> None:
    """A plain segment left next to its compressed twin is read once and then removed."""
    data = tmp_path / "data"
    with JsonlStore(data, max_file_size_mb=0.01, compress=True) as store:
        for start in range(0, 200, 20):
            store.write([interaction(n) for n in range(start, start + 20)], [])
        deadline = time.monotonic() + 10
        while any(p.name.endswith(".jsonl") and ".active." not in p.name for p in data.iterdir()):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    gz = sorted(p for p in data.iterdir() if p.name.endswith(".jsonl.gz"))[0]
    twin = gz.with_name(gz.name[: -len(".gz")])
    twin.write_bytes(gzip.decompress(gz.read_bytes()))
    with JsonlStore(data) as store:
        assert [it.id for it in store.scan_interactions()] == [f"i{n}" for n in range(200)]
        assert not twin.exists()


# Python 3.12+ warns on fork() with threads alive; forking with a store open is the point
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_forked_child_becomes_its_own_writer(tmp_path: Path) -> None:
    """After fork, parent and child append to different segments; nothing interleaves."""
    data = tmp_path / "data"
    store = JsonlStore(data)
    store.write([interaction(0)], [])
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's exit code is the assertion
        try:
            store.write([interaction(n, "c") for n in range(200)], [])
            store.close()
        finally:
            os._exit(0)
    store.write([interaction(n, "p") for n in range(200)], [])
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.close()
    ids = ids_in_files(data)
    assert sorted(ids) == sorted(
        ["i0"] + [f"c{n}" for n in range(200)] + [f"p{n}" for n in range(200)]
    )
