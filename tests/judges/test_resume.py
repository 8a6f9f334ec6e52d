"""A judge run killed mid-way (SIGKILL, a real process) and run again stores 0 duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rlhf_otel.judges import judge_feedback_id
from rlhf_otel.stores import JsonlStore
from tests.judges.conftest import answers, make_spec, spec_dict
from tests.servers.judge_server import JudgeServer

N = 80


def _raw_verdict_ids(data_dir: Path) -> list[str]:
    """Every stored feedback line's id, duplicates included (read from the files)."""
    ids = []
    for f in sorted(data_dir.glob("feedback-*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue  # a torn last line of the killed writer
            if doc.get("source") == "model":
                ids.append(doc["id"])
    return ids


def _cli(spec: Path, data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "rlhf_otel.cli", "judge", "run", str(spec),
            "--data-dir", str(data_dir), "--json", "--no-progress"]  # fmt: skip


def test_killed_run_resumes_without_duplicates(tmp_path: Path) -> None:
    """SIGKILL once verdicts are on disk; the rerun skips what was stored, judges the rest."""
    data_dir = tmp_path / "store"
    its = answers(N)
    with JsonlStore(data_dir) as store:
        store.write(its, [])
    env = dict(os.environ, JUDGE_TEST_KEY="local-key")
    with JudgeServer(delay=0.1) as srv:
        raw = spec_dict(srv.base_url, limits={"concurrency": 2})
        spec_file = tmp_path / "judge.json"
        spec_file.write_text(json.dumps(raw))
        errors = tmp_path / "stderr.txt"
        with errors.open("wb") as err:
            proc = subprocess.Popen(_cli(spec_file, data_dir), env=env,
                                    stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        deadline = time.monotonic() + 120
        # kill once some verdicts are on disk (they are written in batches) and more to come
        while (
            not _raw_verdict_ids(data_dir) and proc.poll() is None and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        assert proc.poll() is None, errors.read_text()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        first = _raw_verdict_ids(data_dir)
        assert 0 < len(first) < N
        again = subprocess.run(_cli(spec_file, data_dir), env=env, capture_output=True,
                               text=True, timeout=300, check=False)  # fmt: skip
        assert again.returncode == 0, again.stderr
        summary = json.loads(again.stdout)
    assert summary["skipped"] == {"already_judged": len(set(first))}
    assert summary["judged"] == N - len(set(first))
    ids = _raw_verdict_ids(data_dir)
    spec = make_spec("http://127.0.0.1:9/v1")
    assert len(ids) == len(set(ids)) == N
    assert set(ids) == {judge_feedback_id(spec, it.id) for it in its}
