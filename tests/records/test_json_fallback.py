"""One JSON fallback for odd values: every writer and reader encodes them the same way."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from rlhf_otel.analytics import open_engine
from rlhf_otel.cli import main
from rlhf_otel.export import export_feedback
from rlhf_otel.records import json_default
from rlhf_otel.stores import JsonlStore, MemoryStore
from rlhf_otel.stores.zerodb._rows import encode_record
from tests.stores.jsonl_support import interaction


class Odd:
    def __repr__(self) -> str:
        return "<odd>"


ODD = {
    "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    "day": date(2026, 1, 2),
    "tags": ("a", "b"),
    "price": Decimal("1.25"),
    "key": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "raw": b"\x01\xff",
    "other": Odd(),
}
EXPECTED = {
    "at": "2026-01-02T03:04:05+00:00",
    "day": "2026-01-02",
    "tags": ["a", "b"],
    "price": 1.25,
    "key": "12345678-1234-5678-1234-567812345678",
    "raw": "01ff",
    "other": "<odd>",
}


def test_json_default_names_each_odd_value() -> None:
    """Dates, tuples, decimals, bytes, UUIDs and other objects get one documented encoding."""
    assert json.loads(json.dumps(ODD, default=json_default)) == EXPECTED


def test_every_writer_encodes_odd_metadata_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """JSONL lines, ZeroDB rows, the engine over a memory store, sql and exports agree."""
    it = replace(interaction(1), metadata=ODD)
    with JsonlStore(tmp_path / "store", fsync="none") as store:
        store.write([it], [])
    (segment,) = (tmp_path / "store").glob("interactions-*.jsonl")
    assert json.loads(segment.read_text())["metadata"] == EXPECTED

    _, text = encode_record(it)
    assert json.loads(text)["metadata"] == EXPECTED

    memory = MemoryStore()
    memory.write([it], [])
    with open_engine(memory) as engine:
        (row,) = engine.sql("SELECT metadata FROM interactions").fetchall()
    assert json.loads(row[0]) == EXPECTED

    out = io.StringIO()
    export_feedback(memory, "jsonl", out=out)
    (record,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert record["metadata"] == EXPECTED

    query = "SELECT metadata, DATE '2026-01-02' AS d, 1.25::DECIMAL(4, 2) AS n FROM interactions"
    assert main(["sql", "--json", "--data-dir", str(tmp_path / "store"), query]) == 0
    (got,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (json.loads(got["metadata"]), got["d"], got["n"]) == (EXPECTED, "2026-01-02", 1.25)
