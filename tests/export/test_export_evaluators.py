"""Exports by evaluator: people only by default, judges on request, people over judges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rlhf_otel.cli import main
from rlhf_otel.export import export_feedback
from rlhf_otel.records import Feedback, Interaction
from rlhf_otel.stores import JsonlStore, MemoryStore
from tests.feedback_data import T0, compare, interaction, thumbs

J: dict[str, Any] = {"user_id": "helpful@1", "source": "model"}


def _with(fb: Feedback, **meta: Any) -> Feedback:
    fields = {f: getattr(fb, f) for f in fb.__dataclass_fields__}
    return Feedback(**{**fields, "metadata": meta})


def _records() -> tuple[list[Interaction], list[Feedback]]:
    its = [
        interaction("i1", "P1", "one", T0, model="m1"),
        interaction("i2", "P1", "two", T0, model="m2"),
        interaction("i3", "P2", "three", T0, model="m1"),
        interaction("i4", "P2", "four", T0, model="m2"),
        interaction("i5", "P3", "five", T0, model="m1"),
        interaction("i6", "P3", "six", T0, model="m2"),
        interaction("i7", "P4", "seven", T0, model="m1"),
        interaction("i8", "P4", "eight", T0, model="m2"),
    ]
    fbs = [
        thumbs("h1", "i1", True, T0, user_id="p1"),  # people: i1 over i2
        thumbs("h2", "i2", False, T0, user_id="p1"),
        thumbs("j1", "i1", False, T0, **J),  # the judge disagrees on P1
        thumbs("j2", "i2", True, T0, **J),
        thumbs("j3", "i3", True, T0, **J),  # judge only on P2: i3 over i4
        thumbs("j4", "i4", False, T0, **J),
        # a consistent pairwise verdict (both orders): i5 over i6, one pair
        _with(compare("j5", "i5", ["i6"], T0, **J), order="AB", consistent=True,
              pair_verdict="i5"),
        _with(compare("j6", "i5", ["i6"], T0, **J), order="BA", consistent=True,
              pair_verdict="i5"),
        # an inconsistent one: never a pair
        _with(compare("j7", "i7", ["i8"], T0, **J), order="AB", consistent=False,
              pair_verdict="inconsistent"),
        _with(compare("j8", "i8", ["i7"], T0, **J), order="BA", consistent=False,
              pair_verdict="inconsistent"),
    ]  # fmt: skip
    return its, fbs


@pytest.fixture
def judged() -> MemoryStore:
    store = MemoryStore(max_entries=None)
    store.write(*_records())
    return store


def _lines(text: str | bytes) -> list[dict[str, Any]]:
    assert isinstance(text, str)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_record_export_takes_people_by_default(judged: MemoryStore) -> None:
    """Default: only people's feedback, rows exactly as before (no evaluator_type field)."""
    rows = _lines(export_feedback(judged, "jsonl", include_interactions=False))
    assert [r["id"] for r in rows] == ["h1", "h2"]
    assert all("evaluator_type" not in r for r in rows)


def test_record_export_by_evaluator_carries_the_type(judged: MemoryStore) -> None:
    """model: the judge's verdicts (one per pair: the counting rule keeps the later order);
    all: people's too; each row says who gave it."""
    model = _lines(export_feedback(judged, "jsonl", include_interactions=False,
                                   evaluators="model"))  # fmt: skip
    assert [r["id"] for r in model] == ["j1", "j2", "j3", "j4", "j6", "j8"]
    assert {r["evaluator_type"] for r in model} == {"model"}
    both = _lines(export_feedback(judged, "jsonl", include_interactions=False,
                                  evaluators="all"))  # fmt: skip
    assert [(r["id"], r["evaluator_type"]) for r in both][:3] == [
        ("h1", "end_user"), ("h2", "end_user"), ("j1", "model")]  # fmt: skip
    assert len(both) == 8


def _pairs(store: MemoryStore, evaluators: str) -> tuple[list[tuple[str, str]], Any]:
    text = export_feedback(store, "dpo", evaluators=evaluators)  # type: ignore[call-overload]  # a str on purpose
    rows = _lines(text)
    return [(r["chosen"], r["rejected"]) for r in rows], rows


def test_dpo_people_only_by_default(judged: MemoryStore) -> None:
    """Default DPO: the one pair people made (one over two); no judge pair."""
    pairs, rows = _pairs(judged, "human")
    assert pairs == [("one", "two")]
    assert "evaluator" not in rows[0]


def test_dpo_from_judges_uses_consistent_verdicts_once(judged: MemoryStore) -> None:
    """model: the judge's thumbs pairs, and its consistent pairwise verdict as one pair."""
    pairs, _ = _pairs(judged, "model")
    assert sorted(pairs) == [("five", "six"), ("three", "four"), ("two", "one")]


def test_dpo_all_people_win_over_the_judge(judged: MemoryStore) -> None:
    """all: on P1 people's pair wins over the judge's opposite one; counted in the report."""
    pairs, rows = _pairs(judged, "all")
    assert sorted(pairs) == [("five", "six"), ("one", "two"), ("three", "four")]
    assert sorted((r["chosen"], r["evaluator"]) for r in rows) == [
        ("five", "model"), ("one", "human"), ("three", "model")]  # fmt: skip
    report = export_feedback(judged, "dpo", out=Path("/dev/null"), evaluators="all")
    assert report.skipped["judge_overruled_by_people"] == 2
    assert report.skipped["judge_inconsistent_pair"] == 1


def test_kto_labels_from_judges(judged: MemoryStore) -> None:
    """KTO with model: labels from the judge's thumbs; people's rows only by default."""
    model = {(r["completion"], r["label"]) for r in _lines(export_feedback(
        judged, "kto", evaluators="model"))}  # fmt: skip
    assert model == {("one", False), ("two", True), ("three", True), ("four", False)}
    kto = _lines(export_feedback(judged, "kto", evaluators="model"))
    assert {r["evaluator"] for r in kto} == {"model"}
    people = {(r["completion"], r["label"]) for r in _lines(export_feedback(judged, "kto"))}
    assert people == {("one", True), ("two", False)}


def test_bad_evaluators_value_is_refused(judged: MemoryStore) -> None:
    """An unknown evaluators value raises a ValueError naming what is allowed."""
    with pytest.raises(ValueError, match="evaluators must be 'human', 'model' or 'all'"):
        export_feedback(judged, "jsonl", evaluators="robots")  # type: ignore[call-overload]  # a str on purpose


def test_cli_export_evaluators(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`export --evaluators all` writes people over judge; the default writes people only."""
    data = tmp_path / "store"
    with JsonlStore(data) as store:
        store.write(*_records())
    out = tmp_path / "pairs.jsonl"
    assert main(["export", "--data-dir", str(data), "--format", "dpo", "--out", str(out),
                 "--evaluators", "all"]) == 0  # fmt: skip
    rows = _lines(out.read_text())
    assert sorted((r["chosen"], r["rejected"]) for r in rows) == [
        ("five", "six"), ("one", "two"), ("three", "four")]  # fmt: skip
    assert main(["export", "--data-dir", str(data), "--format", "jsonl", "--out", str(out),
                 "--no-interactions"]) == 0  # fmt: skip
    assert [r["id"] for r in _lines(out.read_text())] == ["h1", "h2"]


def test_csv_by_evaluator_has_an_evaluator_type_column(judged: MemoryStore) -> None:
    """CSV of model/all exports ends with an evaluator_type column; the default has none."""
    import csv
    import io

    text = export_feedback(judged, "csv", include_interactions=False, evaluators="all")
    assert isinstance(text, str)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["id"], r["evaluator_type"]) for r in rows][:3] == [
        ("h1", "end_user"), ("h2", "end_user"), ("j1", "model")]  # fmt: skip
    plain = export_feedback(judged, "csv", include_interactions=False)
    assert isinstance(plain, str)
    assert "evaluator_type" not in plain.splitlines()[0]


def test_parquet_and_lake_filter_by_evaluator(judged: MemoryStore, tmp_path: Path) -> None:
    """Parquet records and the lake take people only by default, the judge with model."""
    import io

    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    def parquet_ids(evaluators: str) -> list[str]:
        data = export_feedback(judged, "parquet", include_interactions=False, evaluators=evaluators)  # type: ignore[call-overload]  # a str
        assert isinstance(data, bytes)
        return [str(i) for i in pq.read_table(io.BytesIO(data)).column("id").to_pylist()]

    assert parquet_ids("human") == ["h1", "h2"]
    assert parquet_ids("model") == ["j1", "j2", "j3", "j4", "j6", "j8"]
    data = export_feedback(judged, "parquet", include_interactions=False, evaluators="all")
    assert isinstance(data, bytes)
    table = pq.read_table(io.BytesIO(data))
    assert table.column("evaluator_type").to_pylist()[:3] == ["end_user", "end_user", "model"]
    default = export_feedback(judged, "parquet", include_interactions=False)
    assert isinstance(default, bytes)
    assert "evaluator_type" not in pq.read_table(io.BytesIO(default)).column_names

    def lake_ids(evaluators: str) -> list[str]:
        root = tmp_path / evaluators
        export_feedback(judged, "parquet-lake", out=root, evaluators=evaluators)  # type: ignore[call-overload]  # a str
        table = ds.dataset(root / "kind=feedback", format="parquet",
                           partitioning="hive").to_table()  # fmt: skip
        return sorted(str(i) for i in table.column("id").to_pylist())

    assert lake_ids("human") == ["h1", "h2"]
    assert lake_ids("all") == ["h1", "h2", "j1", "j2", "j3", "j4", "j6", "j8"]


def test_parquet_training_set_by_evaluator(judged: MemoryStore) -> None:
    """A Parquet DPO set of an `all` export has an evaluator column; the default has not."""
    import io

    import pyarrow.parquet as pq

    data = export_feedback(judged, "dpo", container="parquet", evaluators="all")
    assert isinstance(data, bytes)
    table = pq.read_table(io.BytesIO(data))
    chosen, evaluator = table.column("chosen").to_pylist(), table.column("evaluator").to_pylist()
    got = sorted(zip(chosen, evaluator, strict=True))
    assert got == [("five", "model"), ("one", "human"), ("three", "model")]
    default = export_feedback(judged, "dpo", container="parquet")
    assert isinstance(default, bytes)
    assert pq.read_table(io.BytesIO(default)).column_names == ["prompt", "chosen", "rejected"]
