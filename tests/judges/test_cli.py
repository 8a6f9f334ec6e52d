"""`rlhf-otel judge run/report`: the documented worked example, from `demo` to a report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlhf_otel.cli import main
from tests.servers.judge_server import JudgeServer

EXAMPLES = Path(__file__).parents[2] / "examples" / "judges"


def _spec(tmp_path: Path, name: str, server: JudgeServer) -> str:
    """An example spec pointed at the test judge's port (the examples use 8700)."""
    text = (EXAMPLES / name).read_text().replace("http://127.0.0.1:8700/v1", server.base_url)
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_worked_example_from_demo_to_report(
    tmp_path: Path, judge_server: JudgeServer, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """docs/ai-feedback.md's commands: demo, judge run twice, pairwise run, report, export."""
    monkeypatch.setenv("OPENAI_API_KEY", "local-test-key")
    data = str(tmp_path / "rlhf-data")
    assert main(["demo", "--data-dir", data]) == 0
    spec = _spec(tmp_path, "helpfulness.yaml", judge_server)
    capsys.readouterr()
    assert main(["judge", "run", spec, "--data-dir", data, "--json"]) == 0
    first = _json(capsys)
    assert (first["judged"], first["stored"], first["failed"]) == (80, 80, {})
    assert main(["judge", "run", spec, "--data-dir", data, "--json"]) == 0
    again = _json(capsys)
    assert (again["judged"], again["skipped"], again["requests"]) == (
        0, {"already_judged": 80}, 0)  # fmt: skip
    pairwise = _spec(tmp_path, "pairwise.yaml", judge_server)
    assert main(["judge", "run", pairwise, "--data-dir", data, "--json"]) == 0
    pairs = _json(capsys)
    assert pairs["pairs"] == pairs["judged"]
    assert pairs["stored"] == 2 * int(str(pairs["judged"]))
    assert main(["judge", "report", "--data-dir", data, "--json"]) == 0
    report = _json(capsys)["judges"]
    assert isinstance(report, list)
    assert {(a["judge"], a["kind"]) for a in report} >= {
        ("helpfulness@1", "binary"), ("preference@1", "comparative")}  # fmt: skip
    out = tmp_path / "pairs.jsonl"
    assert main(["export", "--data-dir", data, "--format", "dpo", "--evaluators", "all",
                 "--out", str(out), "--json"]) == 0  # fmt: skip
    assert out.read_text().count("\n") == _json(capsys)["rows"]


def test_progress_line_on_stderr(
    tmp_path: Path, judge_server: JudgeServer, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """--progress writes a progress line on stderr ending with the final counts."""
    monkeypatch.setenv("OPENAI_API_KEY", "local-test-key")
    data = str(tmp_path / "rlhf-data")
    assert main(["demo", "--data-dir", data, "--conversations", "8"]) == 0
    spec = _spec(tmp_path, "helpfulness.yaml", judge_server)
    capsys.readouterr()
    assert main(["judge", "run", spec, "--data-dir", data, "--progress"]) == 0
    err = capsys.readouterr().err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("judge helpfulness@1: 16/16 items: 16 judged, 0 skipped, 0 failed")


def test_bad_spec_and_missing_key_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad spec file or an unset key variable: one line on stderr, exit code 2."""
    data = tmp_path / "d"
    data.mkdir()
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: 1\nrubric: {type: stars}\n")
    assert main(["judge", "run", str(bad), "--data-dir", str(data)]) == 2
    assert capsys.readouterr().err.startswith("rlhf-otel: error: ")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["judge", "run", str(EXAMPLES / "helpfulness.yaml"), "--data-dir",
                 str(data)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "OPENAI_API_KEY is not set" in err
    assert err.count("\n") == 1
