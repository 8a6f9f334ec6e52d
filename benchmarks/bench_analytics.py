"""The analytics engine at two sizes, and against the code it replaced, on production-like data.

Data: ``write_synthetic_store(realistic=True)``: 1,000 raters and 25 reviewers on the same
answers, 2-4 models per prompt, comparisons, all five feedback types, four rating scales,
log-normal text sizes. Steps: ``get_analytics``, Parquet lake export, DPO export, record
Parquet export and ``rlhf-otel report``, each in a fresh process (peak RSS is its own),
printed as seconds and peak RSS per step at each size, then the growth from the first size
to the last (time ratio against the data ratio; linear growth is the data ratio).
Baseline: the same step run by the pre-engine implementation (commit ``BASELINE_REF``,
extracted with ``git archive``) at the first size, stopped after a time cap.
Full sizes: 1,000,000 and 4,000,000 interactions with as much feedback; ``quick``: 500 and
1,000. Env: ``RLHF_OTEL_BENCH_SIZES=1000000,4000000`` sets the sizes (``RLHF_OTEL_BENCH_N``
one size), ``RLHF_OTEL_BENCH_DATA`` reuses a store written before (one size: what it holds),
``RLHF_OTEL_BENCH_BASELINE=0`` skips the baseline,
``RLHF_OTEL_BENCH_BASELINE_CAP=300`` stops each baseline step after that many seconds,
``RLHF_OTEL_BENCH_STEPS=analytics,dpo`` runs only those steps,
``RLHF_OTEL_BENCH_DPO_REPEAT=10`` runs the DPO export that many more times at the last size
and counts failures. ``RLHF_OTEL_ANALYTICS_*`` reach every step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BASELINE_REF = "faf58c1"
STEPS = ("analytics", "lake", "dpo", "records_parquet", "report")
CAP_S = {
    "analytics": 1200.0, "lake": 1200.0, "dpo": 1200.0, "records_parquet": 1200.0,
    "report": 1200.0,
}  # fmt: skip

_CHILD = r"""
import json, resource, sys, time
step, data, out = sys.argv[1], sys.argv[2], sys.argv[3]
from rlhf_otel.stores import JsonlStore
store = JsonlStore(data)
t0 = time.perf_counter()
if step == "analytics":
    from rlhf_otel.export import get_analytics
    r = get_analytics(store)
    what = {"feedback": r.stats.total_feedback,
            "agreement_items": sum(a.items for a in r.agreement)}
elif step == "lake":
    from rlhf_otel.export import export_feedback
    rep = export_feedback(store, "parquet-lake", out=out + "-lake")
    what = {"rows": rep.rows}
elif step == "report":
    from rlhf_otel.cli._main import main
    code = main(["report", "--data-dir", data, "--out", out + ".html", "--no-progress"])
    what = {"exit": code}
else:
    from rlhf_otel.export import export_feedback
    fmt = "dpo" if step == "dpo" else "parquet"
    rep = export_feedback(store, fmt, out=out)
    what = {"rows": rep.rows}
seconds = time.perf_counter() - t0
store.close()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
import rlhf_otel
print(json.dumps({"seconds": seconds, "peak_rss_mb": rss, "code": rlhf_otel.__file__, **what}))
"""


def run_step(step: str, data: str, code_root: str, cap: float) -> dict[str, Any]:
    """One step in a fresh interpreter importing ``rlhf_otel`` from ``code_root``."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": code_root}
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, "-c", _CHILD, step, data, os.path.join(tmp, "out")],
                capture_output=True, text=True, env=env, timeout=cap, check=False, cwd=tmp,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return {"stopped_after_s": round(time.perf_counter() - started, 1)}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def baseline_code(dest: str) -> str | None:
    """The pre-engine package extracted from git, or ``None`` without a git checkout."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", BASELINE_REF, "rlhf_otel"],
            capture_output=True, check=True,
        )  # fmt: skip
        subprocess.run(["tar", "-x", "-C", dest], input=archive.stdout, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return dest


def _fmt(r: dict[str, Any]) -> str:
    if "seconds" in r:
        return f"{r['seconds']:.1f} s, {r['peak_rss_mb']:.0f} MB"
    if "stopped_after_s" in r:
        return f"> {r['stopped_after_s']:.0f} s, stopped"
    return f"error {r.get('error')}"


def _sizes(quick: bool) -> list[int]:
    raw = os.environ.get("RLHF_OTEL_BENCH_SIZES") or os.environ.get("RLHF_OTEL_BENCH_N")
    if raw:
        sizes = [int(float(x)) for x in raw.split(",")]
    else:
        sizes = [500, 1_000] if quick else [1_000_000, 4_000_000]
    return [min(n, 2_000) for n in sizes] if quick else sizes


def _store(tmp: str, n: int) -> str:
    data = os.path.join(tmp, f"store-{n}")
    t0 = time.perf_counter()
    # In a process of its own: Linux keeps a process's peak RSS across fork and exec, so a
    # step started by a runner that had grown while writing the data would report the
    # runner's peak (1.2 GB at 10M + 10M) instead of its own.
    code = (
        "import sys; from rlhf_otel.stores.jsonl._synth import write_synthetic_store; "
        "write_synthetic_store(sys.argv[1], interactions=int(sys.argv[2]), "
        "feedback=int(sys.argv[2]), seed=7, users=1000, realistic=True)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code, data, str(n)], check=True, env=env)
    print(f"wrote {n:,} + {n:,} records in {time.perf_counter() - t0:.0f} s", flush=True)
    return data


def main(quick: bool) -> None:
    caps = {k: (30.0 if quick else v) for k, v in CAP_S.items()}
    chosen = os.environ.get("RLHF_OTEL_BENCH_STEPS")
    # quick (CI) mode: two steps, one baseline, a few seconds in all
    steps = chosen.split(",") if chosen else ["analytics", "dpo"] if quick else list(STEPS)
    reuse = os.environ.get("RLHF_OTEL_BENCH_DATA")
    sizes = [0] if reuse else _sizes(quick)
    results: dict[int, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        old = None
        if os.environ.get("RLHF_OTEL_BENCH_BASELINE", "1") != "0":
            os.mkdir(os.path.join(tmp, "baseline"))
            old = baseline_code(os.path.join(tmp, "baseline"))
        for k, n in enumerate(sizes):
            data = reuse or _store(tmp, n)
            print(f"--- {n:,} + {n:,}" if n else f"--- {data}", flush=True)
            results[n] = {}
            for step in steps:
                new = run_step(step, data, str(ROOT), caps[step])
                results[n][step] = new
                # the pre-engine code at the first size only (its time grows fast)
                with_base = (
                    old
                    and k == 0
                    and step not in ("report", "lake")
                    and (step == "analytics" or not quick)
                )
                base_cap = float(os.environ.get("RLHF_OTEL_BENCH_BASELINE_CAP") or caps[step])
                base = run_step(step, data, old, base_cap) if with_base else {}
                ratio = ""
                if "seconds" in new and "seconds" in base:
                    ratio = f"{base['seconds'] / new['seconds']:.1f}x faster"
                elif "seconds" in new and "stopped_after_s" in base:
                    ratio = f"> {base['stopped_after_s'] / new['seconds']:.1f}x faster"
                shown = _fmt(base) if base else "-"
                print(f"{step:16} engine {_fmt(new):22} baseline {shown:22} {ratio}",
                      flush=True)  # fmt: skip
            repeat = int(os.environ.get("RLHF_OTEL_BENCH_DPO_REPEAT", "0"))
            if repeat and k == len(sizes) - 1:
                runs = [run_step("dpo", data, str(ROOT), caps["dpo"]) for _ in range(repeat)]
                failed = sum("seconds" not in r for r in runs)
                worst = max((r["peak_rss_mb"] for r in runs if "seconds" in r), default=0.0)
                print(f"dpo x{repeat} consecutive runs: {failed} failed, peak RSS at most "
                      f"{worst:.0f} MB", flush=True)  # fmt: skip
            if not reuse:
                import shutil

                shutil.rmtree(data, ignore_errors=True)
    _growth(sizes, steps, results)


def _growth(sizes: list[int], steps: list[str], results: dict[int, Any]) -> None:
    """Seconds and peak RSS per step at each size, and how time grew against the data."""
    if len(sizes) < 2:
        return
    lo, hi = sizes[0], sizes[-1]
    print(f"growth from {lo:,} to {hi:,} records of each kind (data x{hi / lo:.1f}):")
    for step in steps:
        a, b = results[lo][step], results[hi][step]
        if "seconds" not in a or "seconds" not in b:
            print(f"{step:16} {_fmt(a)} -> {_fmt(b)}")
            continue
        grew = b["seconds"] / a["seconds"]
        rss = f"peak RSS {a['peak_rss_mb']:.0f} -> {b['peak_rss_mb']:.0f} MB"
        print(f"{step:16} {_fmt(a):18} -> {_fmt(b):18} time x{grew:.1f}, {rss}", flush=True)
