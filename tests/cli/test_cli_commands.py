"""The stats, export, query and report commands, run against a real store."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rlhf_otel.cli._commands import OneLineErrorParser, register
from rlhf_otel.stores import MemoryStore
from tests.feedback_data import Dataset, generate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(seed=9, n_prompts=24)


def run(store: MemoryStore, argv: list[str]) -> int:
    parser = OneLineErrorParser(prog="rlhf-otel")
    register(parser.add_subparsers(dest="command", required=True), store_opener=lambda a: store)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_stats_table_and_json(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    """stats prints a table for people and the full figures with --json."""
    assert run(data.store, ["stats"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["statistic", "value"]
    assert f"interactions                {len(data.interactions)}" in out
    assert run(data.store, ["stats", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["total_interactions"], doc["total_feedback"]) == (72, len(data.feedback))


def test_stats_full_shows_breakdowns_rankings_agreement(
    data: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    """stats --full adds the per-model table, the ranking and agreement."""
    assert run(data.store, ["stats", "--full"]) == 0
    out = capsys.readouterr().out
    assert "By model" in out
    assert "Model ranking (Bradley-Terry, 95% interval)" in out
    assert re.search(r"^rating\s+\d+\s+4\s+", out, re.M)
    assert run(data.store, ["stats", "--user", "u1"]) == 0
    narrowed = capsys.readouterr().out
    n = sum(1 for f in data.feedback if f.user_id == "u1")
    assert re.search(rf"^feedback\s+{n}$", narrowed, re.M)
    assert run(data.store, ["stats", "--full", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rankings"]["winner"] == "alpha"


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet", "dpo", "kto", "reward", "sft"])
def test_export_every_format_to_a_file(
    data: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    """export --format F --out FILE writes the file and prints what it wrote."""
    out = tmp_path / f"x.{fmt}"
    assert run(data.store, ["export", "--format", fmt, "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["path"] == str(out)
    assert report["rows"] > 0
    assert out.stat().st_size > 0


def test_export_options_and_progress(
    data: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Filters reach the export, and --progress reports on stderr."""
    out = tmp_path / "ratings.csv"
    argv = ["export", "--format", "csv", "--out", str(out), "--type", "rating", "--no-interactions"]
    assert run(data.store, [*argv, "--limit", "5", "--progress"]) == 0
    captured = capsys.readouterr()
    assert "export csv: 5 rows written" in captured.err
    assert re.search(r"^rows\s+5$", captured.out, re.M)
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert [r["type"] for r in rows] == ["rating"] * 5


def test_query_feedback_and_interactions(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    """query lists matching feedback (table or JSON lines) and interactions."""
    assert run(data.store, ["query", "--type", "rating", "--max-rating", "2", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = [f.id for f in data.feedback if f.type.value == "rating" and f.data["rating"] <= 2][
        :20
    ]
    assert [json.loads(x)["id"] for x in lines] == expected
    assert (
        run(data.store, ["query", "--kind", "interactions", "--model", "beta", "--limit", "3"]) == 0
    )
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["id", "time", "model"]
    assert len(table) == 2 + 3
    assert all(" beta " in row for row in table[2:])


def test_report_writes_html(
    data: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """report --out writes a self-contained HTML file."""
    out = tmp_path / "report.html"
    assert run(data.store, ["report", "--out", str(out), "--interval", "week"]) == 0
    assert capsys.readouterr().out == f"report written to {out}\n"
    html = out.read_text(encoding="utf-8")
    assert html.count('<figure class="chart"') == 6
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "--format", "xml", "--out", "x"], "argument --format: invalid choice: 'xml'"),
        (["export", "--format", "json"], "the following arguments are required: --out"),
        (["stats", "--since", "yesterday-ish"], "is not a time"),
        (["query", "--limit", "-3"], "is not a whole number >= 0"),
        (["query", "--type", "stars"], "is not a feedback type"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad arguments exit with code 2 and a single line on stderr."""
    with pytest.raises(SystemExit) as exc:
        run(MemoryStore(), argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("rlhf-otel")
    assert message in err


def test_semantic_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Arguments that parse but make no sense also exit 2 with one line."""
    assert run(MemoryStore(), ["stats", "--since", "2026-02-01", "--until", "2026-01-01"]) == 2
    assert capsys.readouterr().err == "rlhf-otel: error: --since is after --until\n"
    code = run(MemoryStore(), ["export", "--format", "jsonl", "--out", str(tmp_path / "no/x")])
    assert code == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_unreadable_store_exits_2_from_the_real_entry_point(tmp_path: Path) -> None:
    """The installed entry point refuses a missing data directory with exit 2 and one line."""
    done = subprocess.run(
        [sys.executable, "-m", "rlhf_otel.cli", "stats", "--data-dir", str(tmp_path / "nope")],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        f"rlhf-otel: error: cannot read store: {tmp_path / 'nope'} is not a directory "
        "(set --data-dir)\n"
    )
