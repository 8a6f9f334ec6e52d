"""Write the golden inputs and outputs of analytics and exports (run once, then commit).

The outputs were produced by the implementation before the DuckDB engine (commit faf58c1),
run as ``PYTHONPATH=<checkout of faf58c1> python tests/analytics/golden/make_golden.py``
with the input written by this script's ``--input`` step from the current tree. The
equality test (``tests/analytics/test_golden.py``) recomputes every case and compares.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import shutil
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
INPUT = HERE / "input"
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)

# (name, keyword arguments of get_analytics; "filter" holds FeedbackFilter fields)
ANALYTICS_CASES: list[tuple[str, dict[str, Any]]] = [
    ("default", {}),
    ("hourly_all_groups", {"interval": "hour", "top_issues": 25, "breakdown_limit": None}),
    ("weekly", {"interval": "week", "breakdown_limit": 5}),
    ("types_and_window", {"filter": {"types": ["rating", "binary"],
                                     "start_time": T0 + timedelta(days=2),
                                     "end_time": T0 + timedelta(days=5)}}),
    ("one_rater", {"filter": {"user_id": "rater-0"}}),
    ("source_review", {"filter": {"source": "review", "min_rating": 2.0}}),
]  # fmt: skip

# (name, format, keyword arguments of export_feedback)
EXPORT_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("json", "json", {}),
    ("json_compact_ratings", "json", {"pretty_print": False, "feedback_types": ["rating"]}),
    ("jsonl", "jsonl", {}),
    ("jsonl_window_nometa", "jsonl", {"start_time": T0 + timedelta(days=1),
                                      "end_time": T0 + timedelta(days=3),
                                      "include_metadata": False}),
    ("csv", "csv", {}),
    ("csv_limit_user", "csv", {"limit": 50, "user_id": "rater-1"}),
    ("parquet", "parquet", {}),
    ("parquet_feedback_only", "parquet", {"include_interactions": False,
                                          "feedback_types": ["text", "comparative"]}),
    ("dpo", "dpo", {}),
    ("dpo_parquet", "dpo", {"container": "parquet"}),
    ("dpo_capped_never_conv", "dpo", {"training": {"max_pairs_per_prompt": 1,
                                                   "conversational": "never"}}),
    ("dpo_binary_first", "dpo", {"training": {"pair_sources": ["binary", "rating"]}}),
    ("reward", "reward", {}),
    ("reward_window", "reward", {"start_time": T0 + timedelta(days=3), "limit": 300}),
    ("kto", "kto", {}),
    ("kto_thresholds", "kto", {"training": {"positive_threshold": 0.6,
                                            "negative_threshold": 0.4}}),
    ("sft", "sft", {}),
    ("sft_ratings", "sft", {"feedback_types": ["rating"]}),
]  # fmt: skip


def write_input() -> None:
    """The input store: 3,000 interactions and 6,000 feedback written, gzip segments.

    Only the feedback that counts is kept (``rlhf_otel.records.count_feedback``: a rater's
    repeated vote on the same answer replaces the earlier one), so the implementation
    before the engine, which counted every record, is a reference for this input.
    """
    from rlhf_otel.records import count_feedback
    from rlhf_otel.stores import JsonlStore
    from rlhf_otel.stores.jsonl._synth import write_synthetic_store

    shutil.rmtree(INPUT, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic_store(
            tmp, interactions=3000, feedback=6000, seed=2026, users=60, realistic=True,
            step=timedelta(seconds=97), segment_mb=0.5,
        )  # fmt: skip
        with JsonlStore(tmp) as store:
            kept = {fb.id for fb in count_feedback(store.scan_feedback()).feedback}
        INPUT.mkdir()
        for p in sorted(Path(tmp).iterdir()):
            if p.name.endswith(".jsonl"):
                lines = p.read_bytes().splitlines(keepends=True)
                if p.name.startswith("feedback"):
                    lines = [x for x in lines if json.loads(x)["id"] in kept]
                data = b"".join(lines)
                (INPUT / (p.name + ".gz")).write_bytes(gzip.compress(data, mtime=0))


def analytics_kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``get_analytics`` for a case."""
    from rlhf_otel.records._model import FeedbackFilter, FeedbackType

    kw = {k: v for k, v in spec.items() if k != "filter"}
    f = dict(spec.get("filter", {}))
    if "types" in f:
        f["types"] = [FeedbackType(t) for t in f["types"]]
    f.setdefault("end_time", T0 + timedelta(days=30))
    kw["flt"] = FeedbackFilter(**f)
    return kw


def export_kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``export_feedback`` for a case."""
    from rlhf_otel.export import TrainingOptions

    kw = dict(spec)
    if "training" in kw:
        kw["training"] = TrainingOptions(**kw["training"])
    return kw


def plain_analytics(result: Any) -> dict[str, Any]:
    """An analytics result as JSON-ready data, without the time it was generated."""
    d: dict[str, Any] = result.to_dict()
    d.pop("generated_at")
    return d


def plain_export(fmt: str, payload: str | bytes, report: Any) -> dict[str, Any]:
    """An export's rows (Parquet read back to rows) and report, without volatile fields."""
    rep = report.to_dict()
    rep.pop("path", None)
    rep.pop("bytes_written", None)
    if isinstance(payload, bytes):
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        table = pq.read_table(io.BytesIO(payload))
        rows = table.to_pylist()
        for row in rows:
            for k, v in row.items():
                if isinstance(v, datetime):
                    row[k] = v.isoformat()
                elif isinstance(v, list) and v and isinstance(v[0], tuple):
                    row[k] = [list(x) for x in v]
        return {"schema": str(table.schema), "rows": rows, "report": rep}
    if fmt == "json":
        doc = json.loads(payload)
        doc.pop("exported_at")
        return {"document": doc, "text_lines": payload.count("\n"), "report": rep}
    if fmt == "csv":
        return {"text": payload, "report": rep}
    return {"lines": payload.splitlines(), "report": rep}


def run_cases(store_dir: str) -> dict[str, Any]:
    """Every case on the store in ``store_dir``."""
    from rlhf_otel.export import export_feedback, get_analytics
    from rlhf_otel.stores import JsonlStore

    out: dict[str, Any] = {"analytics": {}, "exports": {}}
    store = JsonlStore(store_dir)
    try:
        for name, spec in ANALYTICS_CASES:
            out["analytics"][name] = plain_analytics(get_analytics(store, **analytics_kwargs(spec)))
        for name, fmt, spec in EXPORT_CASES:
            binary = fmt == "parquet" or spec.get("container") == "parquet"
            buf: Any = io.BytesIO() if binary else io.StringIO()
            report = export_feedback(store, fmt, out=buf, **export_kwargs(spec))
            out["exports"][name] = plain_export(fmt, buf.getvalue(), report)
    finally:
        store.close()
    return out


def copy_input(dest: str) -> None:
    """The input segments in a fresh store directory."""
    for p in sorted(INPUT.iterdir()):
        shutil.copyfile(p, Path(dest) / p.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", action="store_true", help="(re)write the input store")
    args = parser.parse_args()
    if args.input:
        write_input()
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        copy_input(tmp)
        results = run_cases(tmp)
    for section, cases in results.items():
        for name, value in cases.items():
            path = HERE / f"{section}-{name}.json.gz"
            text = json.dumps(value, sort_keys=True, ensure_ascii=False, indent=0)
            path.write_bytes(gzip.compress(text.encode(), mtime=0))
    print(f"wrote {sum(len(c) for c in results.values())} golden files to {HERE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
