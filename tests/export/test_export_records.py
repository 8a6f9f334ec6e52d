"""Record exports: JSON, JSONL, CSV and Parquet, every option, streaming."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tracemalloc
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlhf_otel.export import (
    CSV_COLUMNS,
    ExportReport,
    export_feedback,
    record_schema,
    unescape_csv_cell,
)
from rlhf_otel.records import Feedback, FeedbackType, Interaction, TokenUsage, record_from_dict
from rlhf_otel.stores import MemoryStore
from tests.feedback_data import T0, Dataset, compare, generate, interaction, multi, rating, text

HOSTILE = [
    '=HYPERLINK("http://127.0.0.1/x","click")',
    "+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=cmd",
    "'already quoted",
    'she said "hi", then left',
    "line one\nline two\r\nline three",
    "-12.5",
    "plain",
]


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(seed=21, n_prompts=20)


def _records(text_: str) -> list[Interaction | Feedback]:
    return [record_from_dict(json.loads(line)) for line in text_.splitlines()]


def test_jsonl_round_trips_every_record_with_its_type(data: Dataset) -> None:
    """Each JSONL line parses back to the exact record, feedback type included."""
    out = export_feedback(data.store, "jsonl")
    assert isinstance(out, str)
    assert out.endswith("\n")
    assert _records(out) == [*data.interactions, *data.feedback]
    types = [json.loads(line).get("type") for line in out.splitlines()]
    assert Counter(types[len(data.interactions) :]) == Counter(f.type.value for f in data.feedback)


def test_json_is_pretty_by_default_and_compact_on_request(data: Dataset) -> None:
    """JSON is indented by default, one line with pretty_print=False, same content both ways."""
    pretty = export_feedback(data.store, "json")
    compact = export_feedback(data.store, "json", pretty_print=False)
    assert isinstance(pretty, str)
    assert isinstance(compact, str)
    assert pretty.startswith('{\n  "schema_version": 1,')
    assert compact.count("\n") == 1
    a, b = json.loads(pretty), json.loads(compact)
    a.pop("exported_at")
    b.pop("exported_at")
    assert a == b
    assert a["counts"] == {"interactions": 60, "feedback": len(data.feedback)}
    assert [record_from_dict(d) for d in a["interactions"]] == data.interactions
    assert [record_from_dict(d) for d in a["feedback"]] == data.feedback


OPTION_CASES = {
    "time": {"start_time": T0 + timedelta(days=2), "end_time": T0 + timedelta(days=4)},
    "no_interactions": {"include_interactions": False},
    "no_feedback": {"include_feedback": False},
    "types": {"feedback_types": ["rating", FeedbackType.TEXT]},
    "user": {"user_id": "u1"},
    "session": {"session_id": "s2"},
    "limit": {"limit": 7},
    "limit_zero": {"limit": 0},
}


def _expected(data: Dataset, opts: dict[str, object]) -> tuple[list[Interaction], list[Feedback]]:
    start, end = opts.get("start_time"), opts.get("end_time")
    types = {FeedbackType(t) for t in opts.get("feedback_types", list(FeedbackType))}  # type: ignore[attr-defined]

    def keep(r: Interaction | Feedback) -> bool:
        return (
            (start is None or r.timestamp >= start)  # type: ignore[operator]
            and (end is None or r.timestamp <= end)  # type: ignore[operator]
            and ("user_id" not in opts or r.user_id == opts["user_id"])
            and ("session_id" not in opts or r.session_id == opts["session_id"])
        )

    its = [i for i in data.interactions if keep(i)]
    fbs = [f for f in data.feedback if keep(f) and f.type in types]
    if "limit" in opts:
        its, fbs = its[: opts["limit"]], fbs[: opts["limit"]]  # type: ignore[misc]
    if opts.get("include_interactions") is False:
        its = []
    if opts.get("include_feedback") is False:
        fbs = []
    return its, fbs


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_every_option_is_honoured_in_every_format(data: Dataset, fmt: str, case: str) -> None:
    """Each guide option selects exactly the records an independent filter selects."""
    opts = OPTION_CASES[case]
    its, fbs = _expected(data, opts)
    out = export_feedback(data.store, fmt, **opts)  # type: ignore[arg-type]
    if fmt == "jsonl":
        ids = [json.loads(line)["id"] for line in str(out).splitlines()]
    elif fmt == "json":
        doc = json.loads(out)
        ids = [r["id"] for r in doc.get("interactions", []) + doc.get("feedback", [])]
        assert ("interactions" in doc) is (opts.get("include_interactions") is not False)
    elif fmt == "csv":
        ids = [row["id"] for row in csv.DictReader(io.StringIO(str(out), newline=""))]
    else:
        assert isinstance(out, bytes)
        ids = pq.read_table(io.BytesIO(out)).column("id").to_pylist()
    assert ids == [r.id for r in [*its, *fbs]]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_include_metadata_false_drops_metadata(fmt: str) -> None:
    """include_metadata=False leaves out every metadata field or column."""
    store = MemoryStore()
    store.write(
        [interaction("i1", "q", "a", T0, metadata={"secret": "s3cr3t"})],
        [rating("f1", "i1", 4, T0, metadata={"secret": "s3cr3t"})],
    )
    with_meta = export_feedback(store, fmt)
    without = export_feedback(store, fmt, include_metadata=False)
    if fmt == "parquet":
        assert "metadata" in pq.read_table(io.BytesIO(with_meta)).column_names  # type: ignore[arg-type]
        assert "metadata" not in pq.read_table(io.BytesIO(without)).column_names  # type: ignore[arg-type]
    else:
        assert "s3cr3t" in str(with_meta)
        assert "s3cr3t" not in str(without)
        assert "metadata" not in str(without).replace('"include_metadata"', "")


def test_csv_neutralises_hostile_cells_and_round_trips() -> None:
    """Formula-like cells get a leading quote, every cell round-trips through csv and back."""
    store = MemoryStore()
    its = [interaction(f"i{k}", h, h, T0, model=h) for k, h in enumerate(HOSTILE)]
    fbs = [text(f"f{k}", f"i{k}", h, "negative", T0, user_id=h) for k, h in enumerate(HOSTILE)]
    store.write(its, fbs)
    out = export_feedback(store, "csv")
    assert isinstance(out, str)
    assert out.count("\r\n") >= len(HOSTILE) * 2 + 1
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows[0] == list(CSV_COLUMNS)
    assert len(rows) == 1 + 2 * len(HOSTILE)
    assert all(len(r) == len(CSV_COLUMNS) for r in rows)
    col = {name: n for n, name in enumerate(CSV_COLUMNS)}
    for k, h in enumerate(HOSTILE):
        it_row, fb_row = rows[1 + k], rows[1 + len(HOSTILE) + k]
        cells = (it_row[col["prompt"]], it_row[col["model"]], fb_row[col["comment"]])
        for cell in (*cells, fb_row[col["user_id"]]):
            assert unescape_csv_cell(cell) == h
            neutralised = h[0] in "=+-@\t\r'"
            assert cell == ("'" + h if neutralised else h)
    assert rows[1][col["prompt"]] == "'" + HOSTILE[0]
    assert rows[1 + 9][col["prompt"]] == "'-12.5"
    assert rows[1 + 3][col["prompt"]] == "'@SUM(A1:A9)"


def test_csv_formula_neutralising_can_be_turned_off() -> None:
    """With neutralize_formulas off, cells are written verbatim (still RFC 4180 quoted)."""
    from rlhf_otel.export import ExportOptions

    store = MemoryStore()
    store.write([interaction("i1", "=1+1", 'a "b"', T0)], [])
    out = export_feedback(store, "csv", options=ExportOptions(neutralize_formulas=False))
    row = list(csv.reader(io.StringIO(str(out), newline="")))[1]
    assert row[CSV_COLUMNS.index("prompt")] == "=1+1"
    assert 'a ""b""' in str(out)


def test_parquet_has_typed_schema_and_round_trips_values() -> None:
    """Parquet columns carry real types and read back to the same values."""
    store = MemoryStore()
    it = interaction(
        "i1", "q", "a", T0, model="m", latency_ms=12.5, token_usage=TokenUsage(3, 4, 7),
        context=({"role": "system", "content": "s"},), finish_reasons=("stop",),
        model_params={"temperature": 0.2},
    )  # fmt: skip
    fbs = [
        rating("f1", "i1", 4, T0, comment="ok", user_id="u"),
        multi("f2", "i1", {"acc": 4.0, "tone": 2.0}, T0, {"acc": 0.5, "tone": 0.5}),
        compare("f3", "i1", ["i2", "i3"], T0, 0.75),
    ]
    store.write([it], fbs)
    table = pq.read_table(io.BytesIO(export_feedback(store, "parquet")))  # type: ignore[arg-type]
    assert table.schema.equals(record_schema())
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("input_tokens").type == pa.int64()
    assert table.schema.field("dimensions").type == pa.map_(pa.string(), pa.float64())
    rows = table.to_pylist()
    assert rows[0]["timestamp"] == T0
    assert (rows[0]["latency_ms"], rows[0]["input_tokens"], rows[0]["total_tokens"]) == (12.5, 3, 7)
    assert json.loads(rows[0]["context"]) == [{"role": "system", "content": "s"}]
    assert json.loads(rows[0]["model_params"]) == {"temperature": 0.2}
    assert rows[0]["finish_reasons"] == ["stop"]
    assert (rows[1]["type"], rows[1]["rating"], rows[1]["max_rating"]) == ("rating", 4.0, 5.0)
    assert rows[2]["dimensions"] == [("acc", 4.0), ("tone", 2.0)]
    assert rows[3]["compared_response_ids"] == ["i2", "i3"]
    assert rows[3]["confidence_level"] == 0.75


def test_parquet_converts_numbers_stored_as_text_and_spans_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rating or latency stored as text becomes a float; kinds stay right across batches."""
    import rlhf_otel.export._parquet as parquet_module

    monkeypatch.setattr(parquet_module, "BATCH_ROWS", 2)
    store = MemoryStore()
    its = [
        interaction(f"i{k}", "q", "a", T0, latency_ms="12.5" if k == 1 else 3.0) for k in range(3)
    ]
    fbs = [rating(f"f{k}", "i0", "4" if k == 2 else 3, T0) for k in range(3)]
    store.write(its, fbs)
    table = pq.read_table(io.BytesIO(export_feedback(store, "parquet")))  # type: ignore[arg-type]
    assert pq.ParquetFile(io.BytesIO(export_feedback(store, "parquet"))).num_row_groups == 4  # type: ignore[arg-type]
    assert table.column("kind").to_pylist() == ["interaction"] * 3 + ["feedback"] * 3
    assert table.column("latency_ms").to_pylist() == [3.0, 12.5, 3.0, None, None, None]
    assert table.column("rating").to_pylist() == [None, None, None, 3.0, 3.0, 4.0]
    assert table.column("type").to_pylist() == [None, None, None, "rating", "rating", "rating"]


def test_parquet_without_pyarrow_says_how_to_install(tmp_path: Path) -> None:
    """Without pyarrow, Parquet export raises an ImportError naming the extra to install."""
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "from rlhf_otel.export import export_feedback, ParquetUnavailableError\n"
        "from rlhf_otel.stores import JsonlStore, MemoryStore\n"
        "try:\n    export_feedback(MemoryStore(), 'parquet')\n"
        "except ParquetUnavailableError as e:\n    print(isinstance(e, ImportError), e)\n"
        f"print(len(export_feedback(JsonlStore({str(tmp_path)!r}), 'jsonl')))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    first, second = done.stdout.splitlines()
    assert first.startswith("True Parquet export needs pyarrow")
    assert "pip install 'rlhf-otel[parquet]'" in first
    assert second == "0"


def test_streams_to_path_text_and_binary_streams(data: Dataset, tmp_path: Path) -> None:
    """A path is written atomically; text and binary streams get the same bytes."""
    expected = export_feedback(data.store, "jsonl")
    path = tmp_path / "out.jsonl"
    report = export_feedback(data.store, "jsonl", out=path)
    assert isinstance(report, ExportReport)
    assert (report.path, report.rows) == (str(path), 60 + len(data.feedback))
    assert path.read_text(encoding="utf-8") == expected
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
    tio, bio = io.StringIO(), io.BytesIO()
    export_feedback(data.store, "jsonl", out=tio)
    export_feedback(data.store, "jsonl", out=bio)
    assert tio.getvalue() == expected
    assert bio.getvalue().decode("utf-8") == expected
    assert not bio.closed
    pq_path = tmp_path / "out.parquet"
    report = export_feedback(data.store, "parquet", out=pq_path)
    assert report.bytes_written == pq_path.stat().st_size
    assert pq.read_table(pq_path).num_rows == report.rows


def test_large_export_streams_with_bounded_memory(tmp_path: Path) -> None:
    """Exporting 12,000 records to a file allocates far less than the file's size."""
    store = MemoryStore(max_entries=None)
    store.write(
        [interaction(f"i{k}", "p" * 600, "r" * 1000, T0, model="m") for k in range(12_000)], []
    )
    path = tmp_path / "big.jsonl"
    warm = MemoryStore()
    warm.write([interaction("w", "p", "r", T0, model="m")], [])
    export_feedback(warm, "jsonl")  # imports the engine and pyarrow: code, not data
    tracemalloc.start()
    try:
        export_feedback(store, "jsonl", out=path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = path.stat().st_size
    assert size > 20_000_000
    assert peak < size / 10


def test_bad_arguments_are_refused_with_what_is_allowed(tmp_path: Path) -> None:
    """Unknown formats, misplaced options and bad limits raise ValueError with the choices."""
    store = MemoryStore()
    with pytest.raises(ValueError, match="allowed: json, jsonl, csv, parquet, dpo"):
        export_feedback(store, "xml")
    with pytest.raises(ValueError, match="pretty_print applies to json only"):
        export_feedback(store, "jsonl", pretty_print=True)
    with pytest.raises(ValueError, match="limit must be an int >= 0"):
        export_feedback(store, "json", limit=-1)
    with pytest.raises(ValueError, match="feedback type 'stars' is unknown"):
        export_feedback(store, "json", feedback_types=["stars"])
    with pytest.raises(ValueError, match="start_time .* is after end_time"):
        export_feedback(store, "json", start_time=T0, end_time=T0 - timedelta(days=1))
    with pytest.raises(ValueError, match="Parquet is binary"):
        export_feedback(store, "parquet", out=io.StringIO())
    with pytest.raises(OSError, match="does not exist"):
        export_feedback(store, "json", out=tmp_path / "missing" / "x.json")
