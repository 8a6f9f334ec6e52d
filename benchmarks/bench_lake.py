"""Parquet lake export: records/s and peak memory, against DuckDB's own COPY to one file.

Data: a JSONL store written by ``write_synthetic_store(realistic=True)`` (several models per
prompt, 1-6 raters and reviewers on the same answers, all five feedback types, several
rating scales, skewed text sizes), timestamps spread over about a year (one partition per
day and kind). Steps, each in a fresh process so its peak resident memory is its own:

- ``lake``: ``export_feedback(store, "parquet-lake", out=DIR)`` into an empty lake.
- ``lake_again``: the same export again: reads everything, appends nothing (the id check).
- ``duckdb_copy`` (baseline, the stock component): DuckDB alone, ``COPY (SELECT * FROM
  read_json(<segments>)) TO 'x.parquet'`` for each kind: the same lines to one file each,
  no partitioning, no typed view, no dedup.

Full size: 1,000,000 interactions and 1,000,000 feedback; ``quick``: 10,000 of each.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STEPS = ("duckdb_copy", "lake", "lake_again")


def run_step(step: str, data_dir: Path, out: Path) -> dict[str, Any]:
    """One step in this process; returns its figures."""
    started = time.perf_counter()
    if step == "duckdb_copy":
        import duckdb

        con = duckdb.connect()
        con.execute("SET memory_limit = '512MB'")
        con.execute("SET preserve_insertion_order = false")
        rows = 0
        for kind in ("interactions", "feedback"):
            files = sorted(str(p) for p in data_dir.glob(f"{kind}-*.jsonl*"))
            listed = ", ".join(f"'{f}'" for f in files)
            got = con.execute(
                f"COPY (SELECT * FROM read_json([{listed}], format = 'newline_delimited')) "
                f"TO '{out}/{kind}.parquet' (FORMAT parquet, COMPRESSION zstd)"
            ).fetchone()
            rows += int(got[0]) if got else 0
        con.close()
        written = rows
    else:
        from rlhf_otel.export import export_feedback
        from rlhf_otel.stores import JsonlStore

        with JsonlStore(data_dir, fsync="none") as store:
            report = export_feedback(store, "parquet-lake", out=out / "lake")
        rows = report.interactions + report.feedback
        written = report.rows
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"step": step, "rows": rows, "written": written, "s": elapsed, "peak_mb": peak_mb}


def main(quick: bool = False) -> None:
    from rlhf_otel.stores.jsonl._synth import write_synthetic_store

    n = 10_000 if quick else 1_000_000
    step = timedelta(seconds=365 * 86400 // n)
    with tempfile.TemporaryDirectory(prefix="rlhf-bench-lake-") as tmp:
        data_dir, out = Path(tmp) / "store", Path(tmp) / "out"
        out.mkdir()
        t0 = time.perf_counter()
        syn = write_synthetic_store(
            data_dir, interactions=n, feedback=n, seed=14, step=step, realistic=True
        )
        print(
            f"store: {syn.interactions:,} interactions + {syn.feedback:,} feedback "
            f"({syn.users:,} users, {syn.segments} segments) written in "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        results: dict[str, dict[str, Any]] = {}
        for name in STEPS:
            done = subprocess.run(
                [sys.executable, __file__, name, str(data_dir), str(out)],
                capture_output=True, text=True, check=True, cwd=ROOT,
            )  # fmt: skip
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        base = results["duckdb_copy"]
        print(f"{'step':<12} {'records':>10} {'written':>10} {'s':>8} {'records/s':>11} "
              f"{'vs COPY':>8} {'peak MB':>8}")  # fmt: skip
        for name in STEPS:
            r = results[name]
            rate = r["rows"] / r["s"]
            ratio = base["s"] / r["s"]
            print(f"{name:<12} {r['rows']:>10,} {r['written']:>10,} {r['s']:>8.2f} "
                  f"{rate:>11,.0f} {ratio:>7.2f}x {r['peak_mb']:>8.0f}")  # fmt: skip
        lake = out / "lake"
        files = list(lake.rglob("*.parquet"))
        size = sum(f.stat().st_size for f in files)
        one = sum(f.stat().st_size for f in out.glob("*.parquet"))
        print(f"lake: {len(files):,} files, {size / 1e6:.1f} MB; one-file COPY: {one / 1e6:.1f} MB")
        shutil.rmtree(lake, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 4:
        print(json.dumps(run_step(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))))
    else:
        main(quick="--quick" in sys.argv)
