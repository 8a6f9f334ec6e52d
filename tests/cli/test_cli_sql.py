"""The sql command: read-only SQL over the views interactions and feedback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from rlhf_otel.cli._commands import OneLineErrorParser, register
from rlhf_otel.export import export_feedback
from rlhf_otel.stores import JsonlStore, MemoryStore
from tests.feedback_data import Dataset, generate

ROOT = Path(__file__).resolve().parents[2]
INTERACTION_COLUMNS = [
    "seq", "id", "timestamp", "prompt", "response", "model", "provider", "model_params",
    "latency_ms", "input_tokens", "output_tokens", "total_tokens", "user_id", "session_id",
    "context", "metadata", "response_id", "finish_reasons", "error_type",
    "time_to_first_token_ms", "trace_id", "span_id",
]  # fmt: skip
FEEDBACK_COLUMNS = [
    "seq", "id", "interaction_id", "type", "timestamp", "user_id", "session_id", "source",
    "target_ids", "supersedes", "data", "value", "rating", "min_rating", "max_rating",
    "comment", "sentiment", "correction", "dimensions", "weights", "overall_comment",
    "preferred_response_id", "compared_response_ids", "reason", "confidence_level",
    "outcome", "metadata", "trace_id", "span_id",
]  # fmt: skip
BY_TYPE = "SELECT type, count(*) AS n FROM feedback GROUP BY type ORDER BY type"


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(seed=5, n_prompts=20)


def run(store: MemoryStore, argv: list[str]) -> int:
    parser = OneLineErrorParser(prog="rlhf-otel")
    register(parser.add_subparsers(dest="command", required=True), store_opener=lambda a: store)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_table_and_json_output(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    """A query prints an aligned table with a row count, or one JSON object per row."""
    counts = Counter(f.type.value for f in data.feedback)
    assert run(data.store, ["sql", BY_TYPE]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["type", "n"]
    assert [line.split() for line in lines[2:-1]] == [
        [t, str(n)] for t, n in sorted(counts.items())
    ]
    assert lines[-1] == "(5 rows)"
    assert run(data.store, ["sql", "--json", BY_TYPE]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{"type": t, "n": n} for t, n in sorted(counts.items())]


def test_views_have_the_documented_columns(
    data: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    """interactions and feedback expose the flattened columns the docs list, typed."""
    q = "SELECT column_name FROM (DESCRIBE {})"
    assert run(data.store, ["sql", "--json", q.format("interactions")]) == 0
    names = [json.loads(x)["column_name"] for x in capsys.readouterr().out.splitlines()]
    assert names == INTERACTION_COLUMNS
    assert run(data.store, ["sql", "--json", q.format("feedback")]) == 0
    names = [json.loads(x)["column_name"] for x in capsys.readouterr().out.splitlines()]
    assert names == FEEDBACK_COLUMNS
    sql = (
        "SELECT round(avg(rating), 6) AS avg, count(*) AS n, "
        "max(CAST(dimensions->>'$.accuracy' AS DOUBLE)) AS acc FROM feedback WHERE type IN ('rating', "
        "'multi_dimensional')"
    )
    assert run(data.store, ["sql", "--json", sql]) == 0
    got = json.loads(capsys.readouterr().out)
    ratings = [float(f.data["rating"]) for f in data.feedback if f.type.value == "rating"]
    multi = [f for f in data.feedback if f.type.value == "multi_dimensional"]
    assert got == {
        "avg": round(sum(ratings) / len(ratings), 6),
        "n": len(ratings) + len(multi),
        "acc": float(max(f.data["dimensions"]["accuracy"] for f in multi)),
    }


def test_sql_errors_exit_2_with_one_line(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad query exits 2 with a one-line message naming the problem."""
    assert run(data.store, ["sql", "SELECT * FROM nowhere"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "rlhf-otel: error: SQL: no view or table named 'nowhere'; query the views "
        "interactions and feedback (or feedback_versions)\n"
    )
    assert run(data.store, ["sql", "SELEC 1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlhf-otel: error: SQL: Parser Error: syntax error at or near")
    assert err.count("\n") == 1


def test_lake_mode_gives_the_store_answers_and_stays_read_only(
    data: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sql --lake DIR queries the Parquet lake with the same views and the same answers."""
    lake = tmp_path / "lake"
    export_feedback(data.store, "parquet-lake", out=lake)
    q = "SELECT model, count(*) AS n, round(avg(latency_ms), 3) AS lat FROM interactions GROUP BY 1 ORDER BY 1"
    assert run(data.store, ["sql", "--json", q]) == 0
    from_store = capsys.readouterr().out
    assert run(data.store, ["sql", "--json", "--lake", str(lake), q]) == 0
    assert capsys.readouterr().out == from_store
    assert [json.loads(x)["n"] for x in from_store.splitlines()] == [20, 20, 20]
    assert run(data.store, ["sql", "--json", "--lake", str(lake), BY_TYPE]) == 0
    counts = Counter(f.type.value for f in data.feedback)
    got = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert got == [{"type": t, "n": n} for t, n in sorted(counts.items())]
    files = sorted(lake.rglob("*"))
    copy = f"COPY (SELECT 1) TO '{lake}/kind=feedback/x.parquet'"
    assert run(data.store, ["sql", "--lake", str(lake), copy]) == 2
    assert sorted(lake.rglob("*")) == files
    capsys.readouterr()


def test_command_line_is_silent_when_piped(tmp_path: Path) -> None:
    """Through the real entry point with stderr piped: rows on stdout, no progress bar."""
    data_dir = tmp_path / "store"
    data = generate(seed=4, n_prompts=3)
    with JsonlStore(data_dir, fsync="none") as store:
        store.write(data.interactions, data.feedback)
    proc = subprocess.run(
        [sys.executable, "-m", "rlhf_otel.cli", "sql", "--data-dir", str(data_dir),
         "SELECT count(*) AS n FROM interactions"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "n\n-\n9\n(1 row)\n", "")
