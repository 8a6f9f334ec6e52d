"""Export and analytics at scale: DPO JSONL, DPO Parquet, records Parquet, get_analytics.

Baseline: the raw read of the same records (every interaction and feedback scanned from the
store once, parsed into records). The store is a plain read-only JSONL store defined here, so
the figures measure the export code, not a particular backend. Each step runs in a fresh
process so its peak resident memory is its own.
Full size: 1,000,000 interactions and 1,000,000 feedback; ``quick``: 20,000 of each.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rlhf_otel.records._model import (  # noqa: E402
    Feedback,
    FeedbackFilter,
    Interaction,
    InteractionFilter,
)
from rlhf_otel.records._schema import feedback_from_dict, interaction_from_dict  # noqa: E402
from rlhf_otel.stores._protocol import apply_window  # noqa: E402

STEPS = ("raw", "dpo_jsonl", "dpo_parquet", "records_parquet", "analytics")


class FileStore:
    """A read-only store over interactions.jsonl / feedback.jsonl (schema lines).

    Used when the embedded JSONL store is not importable; both read the same lines.
    """

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir

    def write(self, interactions: Any, feedback: Any) -> None:
        raise NotImplementedError("read-only benchmark store")

    def get_interaction(self, interaction_id: str) -> Interaction | None:
        return next(self.scan_interactions(InteractionFilter(ids=[interaction_id])), None)

    def get_feedback(self, feedback_id: str) -> Feedback | None:
        return next((f for f in self.scan_feedback() if f.id == feedback_id), None)

    def scan_interactions(self, flt: InteractionFilter | None = None) -> Iterator[Interaction]:
        def gen() -> Iterator[Interaction]:
            with open(self.dir / "interactions.jsonl", encoding="utf-8") as fh:
                for line in fh:
                    it = interaction_from_dict(json.loads(line))
                    if flt is None or flt.matches(it):
                        yield it

        return gen() if flt is None else apply_window(gen(), flt.offset, flt.limit)

    def scan_feedback(self, flt: FeedbackFilter | None = None) -> Iterator[Feedback]:
        def gen() -> Iterator[Feedback]:
            with open(self.dir / "feedback.jsonl", encoding="utf-8") as fh:
                for line in fh:
                    fb = feedback_from_dict(json.loads(line))
                    if flt is None or flt.matches(fb):
                        yield fb

        return gen() if flt is None else apply_window(gen(), flt.offset, flt.limit)

    def close(self) -> None:
        pass


def generate(data_dir: Path, n_interactions: int) -> None:
    """Two models answer each prompt; two feedback per prompt of every type."""
    t0 = 1_767_225_600  # 2026-01-01
    dumps = json.JSONEncoder(separators=(",", ":")).encode

    def ts(sec: int) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(t0 + sec))

    with (
        open(data_dir / "interactions.jsonl", "w", encoding="utf-8") as fi,
        open(data_dir / "feedback.jsonl", "w", encoding="utf-8") as ff,
    ):
        fid = 0
        for k in range(n_interactions // 2):
            ctx = [{"role": "system", "content": "Answer briefly."}] if k % 10 == 0 else []
            ids = []
            for m, model in enumerate(("model-a", "model-b")):
                iid = f"{k:08d}{m}"
                ids.append(iid)
                fi.write(dumps({
                    "schema_version": 1, "kind": "interaction", "id": iid, "timestamp": ts(k),
                    "prompt": f"Question number {k}: how does feature {k % 977} work?",
                    "response": f"{model} says: feature {k % 977} works like this. " * 3,
                    "model": model, "provider": "openai", "model_params": {"temperature": 0.7},
                    "latency_ms": 100.0 + (k * 37 + m * 11) % 2900,
                    "token_usage": {"prompt": 20, "completion": 60 + k % 200, "total": None},
                    "user_id": f"u{k % 1000}", "session_id": f"s{k % 5000}", "context": ctx,
                    "metadata": {}, "response_id": None, "finish_reasons": ["stop"],
                    "error_type": None, "time_to_first_token_ms": None,
                    "trace_id": None, "span_id": None,
                }) + "\n")  # fmt: skip
            kind = k % 10
            for j in range(2):
                fid += 1
                target = ids[j]
                if kind <= 3 or (kind == 9 and j == 1):
                    ftype, data = "binary", {"value": "thumbs_up" if (k + j) % 3 else "thumbs_down"}
                elif kind <= 6 or kind == 9:
                    r = 1 + (k + 3 * j) % 5
                    ftype = "rating"
                    data = {"rating": r, "min_rating": 1, "max_rating": 5, "comment": None}
                elif kind == 7 and j == 0:
                    ftype, target = "comparative", ids[k % 2]
                    data = {"preferred_response_id": ids[k % 2],
                            "compared_response_ids": [ids[1 - k % 2]],
                            "reason": None, "confidence_level": 0.8}  # fmt: skip
                elif kind == 7:
                    ftype = "text"
                    data = {"comment": "too slow and a bit wrong", "sentiment": "negative"}
                else:
                    ftype = "multi_dimensional"
                    data = {"dimensions": {"accuracy": 1 + (k + j) % 5, "clarity": 1 + k % 5},
                            "weights": None, "overall_comment": None}  # fmt: skip
                ff.write(dumps({
                    "schema_version": 1, "kind": "feedback", "id": f"f{fid:09d}",
                    "interaction_id": target, "type": ftype, "data": data,
                    "timestamp": ts(k + 60), "user_id": f"u{(k + j) % 1000}",
                    "session_id": f"s{k % 5000}", "source": "web", "metadata": {},
                    "target_ids": [target] if ftype != "comparative" else ids,
                    "trace_id": None, "span_id": None,
                }) + "\n")  # fmt: skip


def run_step(step: str, data_dir: Path) -> dict[str, Any]:
    """Run one step in this process; returns seconds, peak RSS and rows."""
    store, kind = FileStore(data_dir), "read-only JSONL FileStore"
    if step != "raw":
        import rlhf_otel.export  # noqa: F401  # import time is not export time
    if step.endswith("parquet"):
        import pyarrow.parquet  # noqa: F401
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = usage0.ru_utime + usage0.ru_stime
    start = time.perf_counter()
    rows: int
    if step == "raw":
        rows = sum(1 for _ in store.scan_interactions()) + sum(1 for _ in store.scan_feedback())
    elif step == "analytics":
        from rlhf_otel.export import get_analytics

        result = get_analytics(store)
        rows = result.stats.total_interactions + result.stats.total_feedback
    else:
        from rlhf_otel.export import export_feedback

        fmt, ext = {
            "dpo_jsonl": ("dpo", "jsonl"), "dpo_parquet": ("dpo", "parquet"),
            "records_parquet": ("parquet", "parquet"),
        }[step]  # fmt: skip
        rows = export_feedback(store, fmt, out=data_dir / f"{step}.{ext}").rows
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu0
    peak_mb = usage.ru_maxrss / 1024
    return {
        "step": step, "seconds": seconds, "cpu": cpu, "peak_mb": peak_mb, "rows": rows,
        "store": kind,
    }  # fmt: skip


def main(quick: bool = False) -> None:
    n = 20_000 if quick else 1_000_000
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        generate(data_dir, n)
        size = sum(p.stat().st_size for p in data_dir.iterdir()) / 1e6
        print(f"{n:,} interactions + {n:,} feedback, {size:,.0f} MB of JSONL, generated in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        results = {}
        for step in STEPS:
            done = subprocess.run(
                [sys.executable, __file__, "--step", step, "--dir", str(data_dir)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            results[step] = json.loads(done.stdout.strip().splitlines()[-1])
    base = results["raw"]
    header = (
        "step", "rows", "CPU s", "x raw (CPU)", "wall s", "x raw (wall)", "peak RSS MB",
        "x raw RSS",
    )  # fmt: skip
    rows = [
        (
            step, f"{r['rows']:,}", f"{r['cpu']:.1f}", f"{r['cpu'] / base['cpu']:.2f}",
            f"{r['seconds']:.1f}", f"{r['seconds'] / base['seconds']:.2f}",
            f"{r['peak_mb']:.0f}", f"{r['peak_mb'] / base['peak_mb']:.2f}",
        )
        for step, r in results.items()
    ]  # fmt: skip
    widths = [max(len(str(x[i])) for x in [header, *rows]) for i in range(len(header))]
    for line in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)))
    print(
        f"store: {base['store']}; targets: exports within 2x the raw read, peak RSS < 1024 MB"
        " (CPU time is the fair ratio on a shared machine)"
    )


if __name__ == "__main__":
    if "--step" in sys.argv:
        step = sys.argv[sys.argv.index("--step") + 1]
        directory = Path(sys.argv[sys.argv.index("--dir") + 1])
        print(json.dumps(run_step(step, directory)))
    else:
        main(quick="--quick" in sys.argv)
