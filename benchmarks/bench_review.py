"""The review app: time to serve the next item over HTTP from a 1,000,000-interaction store.

A synthetic JSONL store (``write_synthetic_store``: several models per prompt, 20,000 users,
feedback of every type from many raters) backs a ``thumbs_down`` queue with two reviewers
per item, not blind (each item also shows the feedback already given). Reported: the queue
build time (one pass over the feedback, one over the interactions), then the latency of
``POST /api/next`` over a keep-alive connection while 40 reviewers take turns (each review
submitted, untimed, so every call leases a fresh item). Baseline, on the same uvicorn
server and connection: a bare endpoint returning a fixed item of the same shape (the
floor any Starlette endpoint pays). Target: p99 < 50 ms after the queue is built.

Run: ``python benchmarks/bench_review.py [--quick]`` (quick: 20,000 interactions).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402

from rlhf_otel import create_rlhf_logger  # noqa: E402
from rlhf_otel.review import ReviewService, parse_queue, review_app  # noqa: E402
from rlhf_otel.stores.jsonl._synth import write_synthetic_store  # noqa: E402
from rlhf_otel.web import running_server, web_app  # noqa: E402

QUEUE = {
    "name": "bench",
    "selection": {"thumbs_down": True},
    "reviewers_per_item": 2,
    "blind": False,
    "rubric": {"types": ["binary", "rating", "text"]},
}
REVIEWERS = 40


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _timed(client: httpx.Client, method: str, url: str, **kw: Any) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    r = client.request(method, url, **kw)
    return (time.perf_counter() - start) * 1000, r


def serve_store(data_dir: str) -> None:
    """The server process: build the queue, serve it, say where, stop when stdin closes."""
    provider = TracerProvider()
    logger = create_rlhf_logger(backend="local", data_dir=data_dir, tracer_provider=provider)
    started = time.perf_counter()
    service = ReviewService(logger, parse_queue(QUEUE))
    build = time.perf_counter() - started
    warm = service.next("warm-up", "w")
    service.skip("warm-up", warm["lease"]["id"])

    async def fixed(request: Request) -> JSONResponse:
        return JSONResponse(warm)

    app = web_app(
        [
            Route("/bench/fixed", fixed, methods=["POST"]),
            Mount("/", app=review_app(service, rate=1e6, burst=1e6)),
        ]
    )
    with running_server(app) as url:
        items = service.book.progress()["items"]
        print(json.dumps({"url": url, "build": build, "items": items}), flush=True)
        sys.stdin.read()
    logger.close()
    provider.shutdown()


def _measure(url: str, requests: int) -> tuple[list[float], list[float]]:
    with httpx.Client(base_url=url) as client:
        heads = {}
        for k in range(REVIEWERS):
            r = client.post("/api/signin", json={"reviewer": f"rev-{k}"})
            heads[k] = {"authorization": "Bearer " + r.json()["session"]}
        for _ in range(50):  # warm both paths
            client.post("/bench/fixed", json={"client": "x"})
        base: list[float] = []
        nxt: list[float] = []
        for i in range(requests):
            who = i % REVIEWERS
            ms, _ = _timed(client, "POST", "/bench/fixed", json={"client": "x"})
            base.append(ms)
            ms, r = _timed(client, "POST", "/api/next", json={"client": "c"}, headers=heads[who])
            nxt.append(ms)
            got = r.json()
            if got["item"] is None:
                continue
            client.post(
                "/api/submit",
                headers=heads[who],
                json={
                    "item": got["item"]["key"],
                    "lease": got["lease"]["id"],
                    "submission": f"bench-{i:08d}",
                    "answers": {"binary": "thumbs_down", "rating": 1 + i % 5},
                },
            )
    return base, nxt


def main(quick: bool = False) -> None:
    n = 20_000 if quick else 1_000_000
    requests = 300 if quick else 3_000
    tmp = Path(tempfile.mkdtemp(prefix="rlhf-bench-review-"))
    try:
        started = time.perf_counter()
        synth = write_synthetic_store(
            tmp, interactions=n, feedback=n * 3 // 10, users=20_000, seed=11
        )
        print(
            f"store: {synth.interactions:,} interactions, {synth.feedback:,} feedback "
            f"{dict(sorted(synth.by_type.items()))}, "
            f"written in {time.perf_counter() - started:.1f} s"
        )
        # The server runs in its own process, as `rlhf-otel review` does: the client's
        # work does not compete with it for the GIL.
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(tmp)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            assert server.stdin is not None
            ready = json.loads(server.stdout.readline())
            print(
                f"queue build: {ready['build']:.1f} s for {ready['items']:,} items "
                "(thumbs_down, 2 reviewers each)"
            )
            base, nxt = _measure(ready["url"], requests)
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(60)
        for label, values in (("fixed item (baseline)", base), ("next item (review app)", nxt)):
            print(
                f"{label:<24} p50 {statistics.median(values):6.2f} ms  "
                f"p99 {_pct(values, 0.99):6.2f} ms"
                f"  max {max(values):6.2f} ms  ({len(values)} calls)"
            )
        p99 = _pct(nxt, 0.99)
        print(
            f"next item p99 {p99:.2f} ms = {p99 / _pct(base, 0.99):.1f}x the bare endpoint's p99; "
            f"target < 50 ms: {'met' if p99 < 50 else 'MISSED'}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if "--serve" in sys.argv:
        serve_store(sys.argv[sys.argv.index("--serve") + 1])
    else:
        main(quick="--quick" in sys.argv)
