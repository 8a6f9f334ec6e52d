"""sql is read-only for real: statements are judged by DuckDB's parser, the store stays
byte-identical, and only a store directory is read."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlhf_otel.cli import main
from rlhf_otel.cli._sql_guard import lock_down
from rlhf_otel.stores import JsonlStore
from rlhf_otel.stores.jsonl import list_store_files
from tests.cli.conftest import ROOT, cli
from tests.stores.jsonl_support import feedback, interaction

READ_ONLY = "rlhf-otel: error: rlhf-otel sql is read-only: it runs one SELECT statement; got "


def snapshot(directory: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``directory`` (dot files too): mode and SHA-256 of its bytes."""
    return {
        str(p.relative_to(directory)): (
            p.stat().st_mode,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A closed JSONL store of 3 interactions and 3 feedback."""
    data_dir = tmp_path / "store"
    with JsonlStore(data_dir, fsync="none") as store:
        its = [interaction(i) for i in range(3)]
        store.write(its, [feedback(5 * i, it.id) for i, it in enumerate(its)])
    return data_dir


def _segment(data_dir: Path, kind: str) -> Path:
    (path,) = [p for p in data_dir.iterdir() if p.name.startswith(kind) and ".jsonl" in p.name]
    return path


def _count(data_dir: Path, view: str) -> int:
    result = cli("sql", "--json", "--data-dir", str(data_dir), f"SELECT count(*) AS n FROM {view}")
    assert result.returncode == 0, result.stderr
    n: int = json.loads(result.stdout)["n"]
    return n


def test_explain_analyze_copy_over_a_segment_is_refused(store_dir: Path) -> None:
    """EXPLAIN ANALYZE COPY onto an interactions segment exits 2; the segment keeps its rows."""
    segment = _segment(store_dir, "interactions")
    before = snapshot(store_dir)
    query = (
        f"EXPLAIN ANALYZE COPY (SELECT 1 AS x WHERE false) TO '{segment}' "
        "(FORMAT csv, HEADER false)"
    )
    result = cli("sql", "--data-dir", str(store_dir), query)
    assert (result.returncode, result.stderr) == (2, READ_ONLY + "EXPLAIN\n")
    assert snapshot(store_dir) == before
    assert _count(store_dir, "interactions") == 3
    assert snapshot(store_dir) == before


def test_copy_into_the_store_directory_is_refused(
    store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """(EXPLAIN ANALYZE) COPY ... TO a file inside the store directory exits 2, creates nothing."""
    before = snapshot(store_dir)
    query = f"COPY (SELECT * FROM feedback) TO '{store_dir}/leak.csv'"
    assert main(["sql", "--data-dir", str(store_dir), "EXPLAIN ANALYZE " + query]) == 2
    assert capsys.readouterr().err == READ_ONLY + "EXPLAIN\n"
    assert main(["sql", "--data-dir", str(store_dir), query]) == 2
    assert capsys.readouterr().err == READ_ONLY + "COPY\n"
    assert snapshot(store_dir) == before


def test_a_forged_feedback_segment_cannot_be_planted(store_dir: Path) -> None:
    """EXPLAIN ANALYZE COPY planting a segment of forged votes exits 2; no vote is added."""
    before = snapshot(store_dir)
    forged = store_dir / "feedback-20260101T000000000000Z-0badc0de-000001.jsonl"
    query = (
        "EXPLAIN ANALYZE COPY (SELECT 'forged-1' AS id, id AS interaction_id, 'binary' AS type, "
        "{'value': 'thumbs_down'} AS data, '2026-01-01T00:00:00Z' AS timestamp, "
        f"'forged' AS user_id FROM interactions) TO '{forged}' (FORMAT json)"
    )
    result = cli("sql", "--data-dir", str(store_dir), query)
    assert (result.returncode, result.stderr) == (2, READ_ONLY + "EXPLAIN\n")
    assert not forged.exists()
    assert snapshot(store_dir) == before
    assert _count(store_dir, "feedback") == 3


@pytest.mark.parametrize("where", ["/", "empty", "missing"])
def test_a_directory_that_is_not_a_store_is_refused(tmp_path: Path, where: str) -> None:
    """--data-dir / (or an empty or missing directory) exits 2 with one line; nothing is read."""
    target = Path("/") if where == "/" else tmp_path / where
    if where == "empty":
        target.mkdir()
    result = cli("sql", "--data-dir", str(target), "SELECT count(*) FROM interactions")
    assert result.returncode == 2
    if where == "missing":
        assert result.stderr == (
            f"rlhf-otel: error: cannot read store: {target} is not a directory (set --data-dir)\n"
        )
    else:
        assert result.stderr == (
            f"rlhf-otel: error: cannot read store: {target} is not an rlhf-otel store (none of "
            "its segment or lock files are there); give the --data-dir a logger or `collect` "
            "writes to\n"
        )
    assert result.stdout == ""
    assert not (tmp_path / "missing").exists()


def test_a_query_over_a_crashed_writers_store_changes_nothing(tmp_path: Path) -> None:
    """sql over the active segments of a writer that died neither recovers nor locks them."""
    data_dir = tmp_path / "store"
    child = (
        "import os, sys\n"
        "from rlhf_otel.stores import JsonlStore\n"
        "from tests.stores.jsonl_support import feedback, interaction\n"
        "store = JsonlStore(sys.argv[1], fsync='none')\n"
        "its = [interaction(i) for i in range(3)]\n"
        "store.write(its, [feedback(5 * i, it.id) for i, it in enumerate(its)])\n"
        "store.flush()\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", child, str(data_dir)], cwd=ROOT, check=True, timeout=120)
    names = sorted(p.name for p in data_dir.iterdir())
    assert [n for n in names if n.endswith(".active.jsonl")] != []
    before = snapshot(data_dir)
    assert _count(data_dir, "feedback") == 3
    assert snapshot(data_dir) == before
    assert sorted(p.name for p in data_dir.iterdir()) == names


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("EXPLAIN SELECT * FROM feedback", "EXPLAIN"),
        ("EXPLAIN ANALYZE SELECT * FROM feedback", "EXPLAIN"),
        ("DELETE FROM feedback", "DELETE"),
        ("UPDATE raw_feedback SET id = 'x'", "UPDATE"),
        ("INSERT INTO feedback (id) VALUES ('x')", "INSERT"),
        ("COPY feedback TO '{dir}/leak.parquet' (FORMAT parquet)", "COPY"),
        ("COPY raw_feedback FROM '{dir}/other.csv'", "COPY"),
        ("EXPORT DATABASE '{dir}/exported'", "EXPORT"),
        ("IMPORT DATABASE '{dir}/exported'", "PRAGMA"),
        ("ATTACH '{dir}/other.db' AS other", "ATTACH"),
        ("DETACH other", "DETACH"),
        ("CREATE TABLE t AS SELECT 1", "CREATE"),
        ("CREATE MACRO leak(p) AS TABLE SELECT * FROM read_text(p)", "CREATE"),
        ("SET enable_external_access = true", "SET"),
        ("RESET lock_configuration", "SET"),
        ("PRAGMA enable_profiling", "PRAGMA"),
        ("CALL pragma_version()", "CALL"),
        ("INSTALL httpfs", "LOAD"),
        ("LOAD httpfs", "LOAD"),
        ("CHECKPOINT", "CALL"),
        ("VACUUM", "VACUUM"),
        ("PIVOT feedback ON type", "MULTI"),
        ("DROP VIEW feedback", "DROP"),
    ],
)
def test_every_statement_but_select_is_refused(
    store_dir: Path, capsys: pytest.CaptureFixture[str], query: str, kind: str
) -> None:
    """EXPLAIN (every form), COPY, PRAGMA, SET, ATTACH, CREATE, CALL... exit 2, touching nothing."""
    before = snapshot(store_dir)
    assert main(["sql", "--data-dir", str(store_dir), query.format(dir=store_dir)]) == 2
    assert capsys.readouterr().err == READ_ONLY + kind + "\n"
    assert snapshot(store_dir) == before


def test_two_statements_are_refused_even_when_the_first_is_a_select(
    store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SELECT followed by DROP is refused whole: one statement at a time."""
    before = snapshot(store_dir)
    assert main(["sql", "--data-dir", str(store_dir), "SELECT 1; DROP VIEW feedback"]) == 2
    assert capsys.readouterr().err == READ_ONLY + "2 statements\n"
    assert snapshot(store_dir) == before


@pytest.mark.parametrize(
    "function",
    [
        "read_csv('{secret}')",
        "read_csv_auto('{secret}')",
        "read_json('{segment}')",
        "read_parquet('{dir}/x.parquet')",
        "glob('{dir}/*')",
        "read_text('{secret}')",
        "read_blob('{segment}')",
        "query('SELECT 1')",
        "query_table('raw_feedback')",
        "duckdb_settings()",
        "parquet_metadata('{dir}/x.parquet')",
    ],
)
def test_table_functions_outside_the_allowed_few_are_refused(
    store_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], function: str
) -> None:
    """read_csv, read_json, glob, read_text, read_blob, query()... exit 2 (deny by default)."""
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    segment = _segment(store_dir, "feedback")
    call = function.format(secret=secret, segment=segment, dir=store_dir)
    query = f"SELECT * FROM (SELECT 1) AS t, LATERAL (SELECT * FROM {call})"
    assert main(["sql", "--data-dir", str(store_dir), query]) == 2
    name = function.split("(")[0]
    assert capsys.readouterr().err == (
        f"rlhf-otel: error: rlhf-otel sql is read-only: the table function {name}() is not "
        "allowed (it may read or write files; allowed: generate_series, json_each, json_tree, "
        "range, unnest)\n"
    )


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM '{secret}'",
        "DESCRIBE '{secret}'",
        'SELECT * FROM (WITH "{secret}" AS (SELECT 1) SELECT 1), "{secret}"',
    ],
)
def test_a_file_name_in_place_of_a_view_is_refused(
    store_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], query: str
) -> None:
    """A file named where a view goes (DuckDB would read it) exits 2 naming the views."""
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    assert main(["sql", "--data-dir", str(store_dir), query.format(secret=secret)]) == 2
    assert capsys.readouterr().err == (
        f"rlhf-otel: error: SQL: no view or table named '{secret}'; query the views "
        "interactions and feedback (or feedback_versions)\n"
    )


@pytest.mark.parametrize(
    ("query", "rows"),
    [
        ("WITH t AS (SELECT type FROM feedback) SELECT count(*) AS n FROM t", [{"n": 3}]),
        ("VALUES (1), (2)", [{"col0": 1}, {"col0": 2}]),
        ("SELECT count(*) AS n FROM (TABLE interactions)", [{"n": 3}]),
        ("SELECT count(*) AS n FROM (DESCRIBE feedback) WHERE column_name = 'id'", [{"n": 1}]),
        ("SELECT sum(range) AS s FROM range(4)", [{"s": 6}]),
        ("SELECT unnest([1, 2]) AS u", [{"u": 1}, {"u": 2}]),
    ],
)
def test_reads_in_every_select_form_run(
    store_dir: Path, capsys: pytest.CaptureFixture[str], query: str, rows: list[object]
) -> None:
    """WITH, VALUES, TABLE, DESCRIBE and the pure table functions run and answer."""
    before = snapshot(store_dir)
    assert main(["sql", "--json", "--data-dir", str(store_dir), query]) == 0
    assert [json.loads(x) for x in capsys.readouterr().out.splitlines()] == rows
    assert snapshot(store_dir) == before


def test_locked_connection_opens_only_the_listed_segments(store_dir: Path, tmp_path: Path) -> None:
    """Behind the parser, the connection can read the segments and nothing else, nor unlock."""
    duckdb = pytest.importorskip("duckdb")
    files = list_store_files(store_dir)
    assert files is not None
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    before = snapshot(store_dir)
    con = duckdb.connect(":memory:")
    try:
        lock_down(con, files.all_files(), progress=False)
        segment = files.segment_files("feedback")[0]
        got = con.execute(f"SELECT count(*) FROM read_json('{segment}')").fetchall()
        assert got == [(3,)]
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"COPY (SELECT 1 AS x) TO '{store_dir}/planted.jsonl'")
        with pytest.raises(duckdb.PermissionException):
            con.execute(f"SELECT * FROM read_csv('{secret}')")
        with pytest.raises(duckdb.InvalidInputException, match="configuration has been locked"):
            con.execute("SET enable_external_access = true")
    finally:
        con.close()
    assert snapshot(store_dir) == before


def test_a_lake_directory_without_parquet_files_is_refused(tmp_path: Path) -> None:
    """--lake / (or any directory without kind=*/date=*/*.parquet) exits 2 with one line."""
    result = cli("sql", "--lake", "/", "SELECT count(*) FROM interactions")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "rlhf-otel: error: cannot read lake: / holds no kind=*/date=*/*.parquet files (give "
        "the directory `export --format parquet-lake` wrote)\n"
    )


def test_an_engine_temp_dir_inside_the_store_is_refused(store_dir: Path) -> None:
    """--temp-dir inside the store exits 2: sql creates nothing in the data's directory."""
    before = snapshot(store_dir)
    inside = store_dir / "spill"
    result = cli("sql", "--temp-dir", str(inside), "--data-dir", str(store_dir), "SELECT 1")
    assert result.returncode == 2
    assert result.stderr == (
        f"rlhf-otel: error: the analytics temp directory {inside} is inside {store_dir}; sql "
        "writes nothing there: give --temp-dir (or RLHF_OTEL_ANALYTICS_TEMP_DIR) outside it\n"
    )
    assert snapshot(store_dir) == before
    assert not inside.exists()
