"""The Parquet lake: layout, schema, permissions, appends without duplicates, the CLI."""

from __future__ import annotations

import re
import stat
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from rlhf_otel.cli._commands import OneLineErrorParser, register
from rlhf_otel.export import LAKE_KINDS, export_feedback, lake_schema
from rlhf_otel.records import TokenUsage
from rlhf_otel.stores import JsonlStore, MemoryStore
from tests.feedback_data import T0, compare, generate, interaction, multi, rating, thumbs

PART = re.compile(r"part-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.parquet")


def _read(root: Path, kind: str) -> pa.Table:
    """The rows of one kind, read by pyarrow's own Hive dataset reader (not DuckDB)."""
    return ds.dataset(root / f"kind={kind}", format="parquet", partitioning="hive").to_table()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def _small_store() -> MemoryStore:
    store = MemoryStore(max_entries=None)
    day2 = T0 + timedelta(days=1, hours=20)  # 2026-03-04 05:00 UTC
    store.write(
        [
            interaction(
                "i1", "hello", "hi!", T0, model="alpha", provider="openai", user_id="u1",
                session_id="s1", latency_ms=120.5, token_usage=TokenUsage(3, 5, 8),
                context=({"role": "system", "content": "be brief"},),
                model_params={"temperature": 0.2}, finish_reasons=("stop",),
                metadata={"team": "x"},
            ),
            interaction("i2", "hello", "hey", day2, model="beta"),
        ],
        [
            rating("f1", "i1", 4, T0 + timedelta(minutes=1), user_id="u2", source="web"),
            thumbs("f2", "i2", False, day2 + timedelta(minutes=1), user_id="u3"),
            multi("f3", "i1", {"accuracy": 5, "clarity": 3}, T0, {"accuracy": 0.7, "clarity": 0.3}),
            compare("f4", "i1", ["i2"], day2, 0.9, user_id="u2"),
        ],
    )  # fmt: skip
    return store


def test_layout_schema_and_owner_only_permissions(tmp_path: Path) -> None:
    """Files land in kind=/date=/part-<uuid>.parquet, 0600 in 0700 directories, typed columns."""
    root = tmp_path / "lake"
    report = export_feedback(_small_store(), "parquet-lake", out=root)
    assert (report.rows, dict(report.used), report.path) == (
        6, {"interaction": 2, "feedback": 4}, str(root),
    )  # fmt: skip
    dirs = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())
    assert dirs == [
        "kind=feedback", "kind=feedback/date=2026-03-02", "kind=feedback/date=2026-03-04",
        "kind=interaction", "kind=interaction/date=2026-03-02",
        "kind=interaction/date=2026-03-04",
    ]  # fmt: skip
    files = _files(root)
    assert len(files) == 4
    assert all(PART.fullmatch(f.name) for f in files)
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
    all_dirs = [root, *(p for p in root.rglob("*") if p.is_dir())]
    assert {stat.S_IMODE(d.stat().st_mode) for d in all_dirs} == {0o700}
    for kind in LAKE_KINDS:
        table = _read(root, kind)
        assert table.schema.remove(table.schema.get_field_index("date")) == lake_schema(kind)


def test_every_column_round_trips(tmp_path: Path) -> None:
    """The values read back equal the records' own fields, flattened."""
    root = tmp_path / "lake"
    export_feedback(_small_store(), "parquet-lake", out=root)
    its = {r["id"]: r for r in _read(root, "interaction").to_pylist()}
    i1 = its["i1"]
    assert (i1["prompt"], i1["response"], i1["model"], i1["provider"]) == (
        "hello", "hi!", "alpha", "openai",
    )  # fmt: skip
    assert (i1["input_tokens"], i1["output_tokens"], i1["total_tokens"]) == (3, 5, 8)
    assert (i1["latency_ms"], i1["user_id"], i1["session_id"]) == (120.5, "u1", "s1")
    assert i1["timestamp"] == T0
    assert str(i1["date"]) == "2026-03-02"
    assert i1["context"] == '[{"role": "system", "content": "be brief"}]'
    assert (i1["model_params"], i1["metadata"]) == ('{"temperature": 0.2}', '{"team": "x"}')
    assert i1["finish_reasons"] == ["stop"]
    assert its["i2"]["total_tokens"] is None
    fbs = {r["id"]: r for r in _read(root, "feedback").to_pylist()}
    assert (fbs["f1"]["type"], fbs["f1"]["rating"], fbs["f1"]["min_rating"]) == ("rating", 4, 1)
    assert (fbs["f1"]["max_rating"], fbs["f1"]["source"], fbs["f1"]["supersedes"]) == (
        5,
        "web",
        None,
    )
    assert (fbs["f2"]["value"], fbs["f2"]["target_ids"]) == ("thumbs_down", ["i2"])
    assert dict(fbs["f3"]["dimensions"]) == {"accuracy": 5.0, "clarity": 3.0}
    assert dict(fbs["f3"]["weights"]) == {"accuracy": 0.7, "clarity": 0.3}
    f4 = fbs["f4"]
    assert (f4["preferred_response_id"], f4["compared_response_ids"]) == ("i1", ["i2"])
    assert (f4["confidence_level"], f4["target_ids"], str(f4["date"])) == (
        0.9, ["i1", "i2"], "2026-03-04",
    )  # fmt: skip


def test_appends_new_records_and_never_repeats_an_id(tmp_path: Path) -> None:
    """A second export adds only records the lake lacks; a third adds no file at all."""
    root = tmp_path / "lake"
    store = _small_store()
    first = export_feedback(store, "parquet-lake", out=root)
    assert first.rows == 6
    later = T0 + timedelta(days=1, hours=20, minutes=5)
    store.write([interaction("i3", "bye", "ciao", later)], [thumbs("f5", "i3", True, later)])
    second = export_feedback(store, "parquet-lake", out=root)
    assert (second.rows, second.interactions, second.feedback) == (2, 3, 5)
    assert dict(second.skipped) == {"already_in_lake": 6}
    files = _files(root)
    assert len(files) == 6
    third = export_feedback(store, "parquet-lake", out=root)
    assert (third.rows, dict(third.skipped)) == (0, {"already_in_lake": 8})
    assert _files(root) == files
    assert sorted(_read(root, "interaction")["id"].to_pylist()) == ["i1", "i2", "i3"]
    assert sorted(_read(root, "feedback")["id"].to_pylist()) == ["f1", "f2", "f3", "f4", "f5"]
    assert not [p for p in root.iterdir() if p.name.startswith(".staging")]


def test_since_bounds_the_scan_and_options_narrow_it(tmp_path: Path) -> None:
    """--since exports only newer records; kinds and feedback types can be left out."""
    root = tmp_path / "lake"
    store = _small_store()
    report = export_feedback(
        store,
        "parquet-lake",
        out=root,
        start_time=T0 + timedelta(days=1),
        feedback_types=["binary"],
    )
    assert (report.rows, dict(report.used)) == (2, {"interaction": 1, "feedback": 1})
    assert _read(root, "feedback")["id"].to_pylist() == ["f2"]
    again = export_feedback(store, "parquet-lake", out=root, include_interactions=False)
    assert (again.rows, dict(again.used)) == (3, {"feedback": 3})
    assert sorted(_read(root, "feedback")["id"].to_pylist()) == ["f1", "f2", "f3", "f4"]


def test_refuses_what_is_not_a_directory(tmp_path: Path) -> None:
    """No out, a file, or a missing parent are refused with what to give instead."""
    store = _small_store()
    with pytest.raises(ValueError, match="parquet-lake writes a directory: pass out= a directory"):
        export_feedback(store, "parquet-lake")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="it is not a directory"):
        export_feedback(store, "parquet-lake", out=tmp_path / "f")
    with pytest.raises(OSError, match="does not exist"):
        export_feedback(store, "parquet-lake", out=tmp_path / "missing" / "lake")


def test_cli_export_parquet_lake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """rlhf-otel export --format parquet-lake --out DIR writes the lake and reports it."""
    data = generate(seed=3, n_prompts=12)
    parser = OneLineErrorParser(prog="rlhf-otel")
    register(
        parser.add_subparsers(dest="command", required=True), store_opener=lambda a: data.store
    )
    root = tmp_path / "lake"
    args = parser.parse_args(["export", "--format", "parquet-lake", "--out", str(root), "--json"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert '"format": "parquet-lake"' in out
    assert f'"rows": {len(data.interactions) + len(data.feedback)}' in out
    assert _read(root, "interaction").num_rows == len(data.interactions) == 36
    assert _read(root, "feedback").num_rows == len(data.feedback)


def test_python_side_memory_stays_bounded(tmp_path: Path) -> None:
    """Writing 30,000 large records holds one batch at a time, not the whole export."""
    store = MemoryStore(max_entries=None)
    store.write(
        [
            interaction(f"i{k}", "p" * 600, "r" * 1000, T0 + timedelta(minutes=k), model="m")
            for k in range(30_000)
        ],
        [],
    )
    tracemalloc.start()
    try:
        export_feedback(store, "parquet-lake", out=tmp_path / "lake")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _read(tmp_path / "lake", "interaction").num_rows == 30_000
    assert peak < 30_000 * 1600 / 4


def test_a_record_stored_twice_is_written_once(tmp_path: Path) -> None:
    """A retried batch stored twice in a JSONL store gives one lake row per id."""
    with JsonlStore(tmp_path / "store", fsync="none") as store:
        batch = [interaction("i1", "p", "r", T0), interaction("i2", "p", "r", T0)]
        store.write(batch, [thumbs("f1", "i1", True, T0)])
        store.write(batch[:1], [thumbs("f1", "i1", True, T0)])
        report = export_feedback(store, "parquet-lake", out=tmp_path / "lake")
    assert (report.rows, dict(report.used)) == (3, {"interaction": 2, "feedback": 1})
    assert sorted(_read(tmp_path / "lake", "interaction")["id"].to_pylist()) == ["i1", "i2"]
    assert _read(tmp_path / "lake", "feedback")["id"].to_pylist() == ["f1"]


def test_a_later_version_supersedes_one_already_in_the_lake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A changed vote appended later sits beside the old one; readers of the lake drop the old."""
    from rlhf_otel.cli._main import main

    store = MemoryStore(max_entries=None)
    store.write([interaction("i1", "p", "r", T0)], [rating("v1", "i1", 2, T0, user_id="u1")])
    root = tmp_path / "lake"
    export_feedback(store, "parquet-lake", out=root)
    later = T0 + timedelta(days=3)
    store.write([], [rating("v2", "i1", 5, later, user_id="u1", supersedes="v1")])
    assert export_feedback(store, "parquet-lake", out=root).rows == 1
    rows = {r["id"]: r["supersedes"] for r in _read(root, "feedback").to_pylist()}
    assert rows == {"v1": None, "v2": "v1"}
    query = "SELECT id, rating FROM feedback ORDER BY id"
    assert main(["sql", "--json", "--lake", str(root), query]) == 0
    assert capsys.readouterr().out == '{"id": "v2", "rating": 5.0}\n'
