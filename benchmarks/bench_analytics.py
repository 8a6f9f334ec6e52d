"""The analytics engine against the code it replaced, on production-like data.

Data: ``write_synthetic_store(realistic=True)``: 1,000 raters and 25 reviewers on the same
answers, 2-4 models per prompt, comparisons, all five feedback types, four rating scales,
log-normal text sizes. Steps: ``get_analytics``, DPO export, record Parquet export and
``rlhf-otel report``, each in a fresh process (peak RSS is its own).
Baseline: the same step run by the pre-engine implementation (commit ``BASELINE_REF``,
extracted with ``git archive``) in the same run, stopped after a time cap.
Full size: 1,000,000 interactions and 1,000,000 feedback; ``quick``: 2,000 of each.
Env: ``RLHF_OTEL_BENCH_DATA`` reuses a store written before (its size is then what it holds),
``RLHF_OTEL_BENCH_N`` sets the size, ``RLHF_OTEL_BENCH_BASELINE=0`` skips the baseline.
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
STEPS = ("analytics", "dpo", "records_parquet", "report")
CAP_S = {"analytics": 300.0, "dpo": 1200.0, "records_parquet": 1200.0, "report": 300.0}

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


def main(quick: bool) -> None:
    from rlhf_otel.stores.jsonl._synth import write_synthetic_store

    n = int(os.environ.get("RLHF_OTEL_BENCH_N", 2_000 if quick else 1_000_000))
    caps = {k: (30.0 if quick else v) for k, v in CAP_S.items()}
    if quick:
        n = min(n, 1_000)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.environ.get("RLHF_OTEL_BENCH_DATA")
        if not data:
            data = os.path.join(tmp, "store")
            t0 = time.perf_counter()
            write_synthetic_store(data, interactions=n, feedback=n, seed=7, users=1000,
                                  realistic=True)  # fmt: skip
            print(f"wrote {n:,} + {n:,} records in {time.perf_counter() - t0:.0f} s", flush=True)
        old = None
        if os.environ.get("RLHF_OTEL_BENCH_BASELINE", "1") != "0":
            os.mkdir(os.path.join(tmp, "baseline"))
            old = baseline_code(os.path.join(tmp, "baseline"))
        rows = []
        # quick (CI) mode: two steps, one baseline, a few seconds in all
        for step in STEPS[:2] if quick else STEPS:
            new = run_step(step, data, str(ROOT), caps[step])
            with_base = old and step != "report" and (step == "analytics" or not quick)
            base = run_step(step, data, old, caps[step]) if with_base else {}
            ratio = ""
            if "seconds" in new and "seconds" in base:
                ratio = f"{base['seconds'] / new['seconds']:.1f}x faster"
            elif "seconds" in new and "stopped_after_s" in base:
                ratio = f"> {base['stopped_after_s'] / new['seconds']:.1f}x faster"
            rows.append((step, _fmt(new), _fmt(base) if base else "-", ratio))
            print(f"{step:16} engine {_fmt(new):22} baseline {rows[-1][2]:22} {ratio}",
                  flush=True)  # fmt: skip
