"""Every analytics figure and export row equals the implementation before the DuckDB engine."""

from __future__ import annotations

import gzip
import io
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rlhf_otel.export import export_feedback, get_analytics
from rlhf_otel.stores import JsonlStore, MemoryStore

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))
import make_golden as g  # noqa: E402  # the cases and their normal form live with the goldens

# Fields added to the outputs after the goldens were made, at their neutral value: a record's
# ``supersedes`` (feedback versions) and a ranked model's ``ties`` (tie votes).
ADDED_SINCE_GOLDEN = {("supersedes", None), ("ties", 0)}


def _differences(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Where ``new`` differs from ``old``; floats may differ in the last bits only."""
    numbers = (int, float)
    floats = isinstance(old, float) or isinstance(new, float)
    if floats and isinstance(old, numbers) and isinstance(new, numbers):
        if not math.isclose(old, new, rel_tol=1e-9, abs_tol=1e-12):
            yield path, old, new
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            if k not in old and (k, new[k]) in ADDED_SINCE_GOLDEN:
                continue
            yield from _differences(old.get(k, "<missing>"), new.get(k, "<missing>"), f"{path}.{k}")
        return
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            yield f"{path}.len", len(old), len(new)
        for i, (x, y) in enumerate(zip(old, new, strict=False)):
            yield from _differences(x, y, f"{path}[{i}]")
        return
    if old != new:
        yield path, old, new


def _golden(name: str) -> Any:
    return json.loads(gzip.decompress((GOLDEN / f"{name}.json.gz").read_bytes()))


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, ensure_ascii=False))


@pytest.fixture(scope="module")
def jsonl_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JsonlStore]:
    path = tmp_path_factory.mktemp("golden-store")
    g.copy_input(str(path))
    store = JsonlStore(path)
    yield store
    store.close()


@pytest.fixture(scope="module")
def memory_store(jsonl_store: JsonlStore) -> MemoryStore:
    store = MemoryStore(max_entries=None)
    store.write(list(jsonl_store.scan_interactions()), list(jsonl_store.scan_feedback()))
    return store


def _run_analytics(store: Any, name: str, spec: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    new = _normal(g.plain_analytics(get_analytics(store, **g.analytics_kwargs(spec))))
    return list(_differences(_golden(f"analytics-{name}"), new))[:5]


_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _without_supersedes(new: dict[str, Any], pretty: bool) -> dict[str, Any]:
    """The export as the goldens have it: without the ``supersedes: null`` field.

    Feedback records gained ``supersedes`` (issue 12) after the goldens were written; every
    golden record is the one version of itself, so the field is null everywhere.
    """
    for fb in new.get("document", {}).get("feedback", []):
        assert fb.pop("supersedes") is None
        if pretty:
            new["text_lines"] -= 1  # the field's own line
    lines = []
    for line in new.get("lines", []):
        d = json.loads(line)
        if d.get("kind") == "feedback" and "supersedes" in d:
            assert d.pop("supersedes") is None
            line = _LINE(d)
        lines.append(line)
    if "lines" in new:
        new["lines"] = lines
    return new


def _run_export(store: Any, name: str, fmt: str, spec: dict[str, Any]) -> list[Any]:
    binary = fmt == "parquet" or spec.get("container") == "parquet"
    buf: Any = io.BytesIO() if binary else io.StringIO()
    report = export_feedback(store, fmt, out=buf, **g.export_kwargs(spec))
    pretty = spec.get("pretty_print", True)
    new = _without_supersedes(_normal(g.plain_export(fmt, buf.getvalue(), report)), pretty)
    return list(_differences(_golden(f"exports-{name}"), new))[:5]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "spec"), g.ANALYTICS_CASES, ids=[c[0] for c in g.ANALYTICS_CASES])
def test_analytics_equal_golden_on_jsonl_segments(
    jsonl_store: JsonlStore, name: str, spec: dict[str, Any]
) -> None:
    """get_analytics over gzip JSONL segments equals the pre-engine figures, case by case."""
    assert _run_analytics(jsonl_store, name, spec) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "fmt", "spec"), g.EXPORT_CASES, ids=[c[0] for c in g.EXPORT_CASES]
)
def test_exports_equal_golden_on_jsonl_segments(
    jsonl_store: JsonlStore, name: str, fmt: str, spec: dict[str, Any]
) -> None:
    """Every export row and report over JSONL segments equals the pre-engine output."""
    assert _run_export(jsonl_store, name, fmt, spec) == []


@pytest.mark.slow
def test_arrow_path_equals_golden(memory_store: MemoryStore) -> None:
    """A store read through Arrow batches gives the same figures and rows as the goldens."""
    cases = dict((n, s) for n, s in g.ANALYTICS_CASES)
    assert _run_analytics(memory_store, "default", cases["default"]) == []
    assert _run_analytics(memory_store, "types_and_window", cases["types_and_window"]) == []
    for name, fmt, spec in g.EXPORT_CASES:
        if name in ("jsonl", "csv", "parquet", "dpo", "reward_window", "kto", "sft"):
            assert (name, _run_export(memory_store, name, fmt, spec)) == (name, [])


def test_golden_inputs_cover_what_the_comparison_needs() -> None:
    """The golden input has overlapping raters, ties, several scales and all five types."""
    default = _golden("analytics-default")
    assert sorted(default["stats"]["by_type"]) == [
        "binary", "comparative", "multi_dimensional", "rating", "text",
    ]  # fmt: skip
    assert default["agreement"][0]["cohen_pairs"] > 100
    assert len(default["stats"]["rating"]["distribution"]) > 10
    dpo = _golden("exports-dpo")
    assert dpo["report"]["skipped"]["tie"] > 100
    assert dpo["report"]["rows"] == 1139
