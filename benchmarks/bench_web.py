"""The feedback service: ``POST /feedback`` requests/s and latency vs a bare JSON endpoint.

One uvicorn server (in this process, on 127.0.0.1) carries two routes: ``/bare`` only reads
and parses the JSON body and answers 200 (the floor: the same server, framework and
network path, no work), and the mounted feedback service ``/rlhf/feedback`` (token check,
limits, idempotent id, store lookup, logging into a local JSONL store). The load generator
is a separate process: 8 clients, each on its own keep-alive connection, sending the same
pre-built realistic bodies to each route in turn (many users, several raters per
interaction, mixed types, skewed comment sizes, some changed votes). Figures: requests/s,
p50 and p99 latency, and the ratio feedback/floor (target >= 0.6x). After a flush, every
2xx answer's id must be in the store (0 lost).

Rounds alternate the two routes (4,000 requests each, 5 rounds; quick: 400, 2 rounds) and the
round with the median ratio is shown, so a busy moment of a shared machine hits both alike.

Run: ``python benchmarks/bench_web.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import json
import random
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

CLIENTS = 8
SECRET = "bench-secret-0123456789abcdefghij"


# ------------------------------------------------------------------ load generator (child)
async def _worker(
    host: str, port: int, path: str, bodies: list[bytes], out: dict[str, Any]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    try:
        for body in bodies:
            started = time.perf_counter()
            writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            payload = await reader.readexactly(length)
            out["lat"].append(time.perf_counter() - started)
            status = int(status_line.split()[1])
            out["codes"][status] = out["codes"].get(status, 0) + 1
            if 200 <= status < 300 and path != "/bare":
                out["ids"].append(json.loads(payload)["id"])
    finally:
        writer.close()


async def _load(host: str, port: int, path: str, bodies: list[bytes]) -> dict[str, Any]:
    out: dict[str, Any] = {"lat": [], "codes": {}, "ids": []}
    shares = [bodies[i::CLIENTS] for i in range(CLIENTS)]
    started = time.perf_counter()
    await asyncio.gather(*(_worker(host, port, path, s, out) for s in shares))
    out["elapsed"] = time.perf_counter() - started
    return out


def _client_main(argv: list[str]) -> None:
    host, port, path, source = argv
    bodies = [line.encode() for line in Path(source).read_text().splitlines()]
    print(json.dumps(asyncio.run(_load(host, int(port), path, bodies))))


# ------------------------------------------------------------------ payloads
def _comment(rng: random.Random) -> str:
    size = min(4000, int(rng.lognormvariate(4.0, 1.1)) + 5)
    words = ["clear", "wrong", "helpful", "too long", "cites", "missing", "great", "vague"]
    text = " ".join(rng.choice(words) for _ in range(size // 6 + 1))
    return text[:size]


def _bodies(logger: Any, n: int, seed: int = 11) -> list[str]:
    """``n`` submissions: 1 token per (interaction, rater), types mixed, 5% changed votes."""
    rng = random.Random(seed)
    users = [f"user-{i}" for i in range(max(50, n // 10))]
    interactions = [
        f"{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}" for _ in range(n // 4)
    ]
    out: list[str] = []
    k = 0
    while len(out) < n:
        k += 1
        iid = rng.choice(interactions)
        user = users[min(len(users) - 1, int(rng.paretovariate(1.2)) - 1)]
        roll = rng.random()
        if roll < 0.05:
            other = rng.choice(interactions)
            if other == iid:
                continue
            token = logger.feedback_token([iid, other], user_id=user)
            body = {
                "type": "comparative",
                "data": {
                    "preferred_response_id": iid,
                    "compared_response_ids": [other],
                    "confidence_level": round(rng.random(), 2),
                },
            }
        else:
            token = logger.feedback_token(iid, user_id=user)
            if roll < 0.50:
                body = {
                    "type": "binary",
                    "data": {"value": rng.choice(["thumbs_up", "thumbs_down"])},
                }
            elif roll < 0.78:
                body = {"type": "rating", "data": {"rating": rng.randint(1, 5)}}
                if rng.random() < 0.3:
                    body["data"]["comment"] = _comment(rng)
            elif roll < 0.95:
                body = {
                    "type": "text",
                    "data": {
                        "comment": _comment(rng),
                        "sentiment": rng.choice(["positive", "negative", None]),
                    },
                }
            else:
                body = {
                    "type": "multi_dimensional",
                    "data": {
                        "dimensions": {"accuracy": rng.randint(1, 5), "clarity": rng.randint(1, 5)}
                    },
                }
        body.update({"token": token, "interaction_id": iid, "client_key": f"c{k}"})
        out.append(json.dumps(body))
    return out


# ------------------------------------------------------------------ driver
def _run_client(url_host: str, port: int, path: str, source: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--client", url_host, str(port), path, str(source)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _figures(label: str, r: dict[str, Any]) -> tuple[str, float, float, float, str]:
    lat = sorted(r["lat"])
    rps = len(lat) / r["elapsed"]
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    codes = ",".join(f"{k}:{v}" for k, v in sorted(r["codes"].items()))
    return label, rps, p50, p99, codes


def main(quick: bool = False) -> None:
    from _util import table
    from opentelemetry.sdk.trace import TracerProvider
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    from rlhf_otel import create_rlhf_logger
    from rlhf_otel.web import feedback_app, read_json, running_server

    n = 400 if quick else 4_000  # requests a route and round
    with tempfile.TemporaryDirectory(prefix="rlhf-bench-web-") as tmp:
        logger = create_rlhf_logger(
            tracer_provider=TracerProvider(),
            data_dir=str(Path(tmp) / "data"),
            feedback_secret=SECRET,
            enable_session_tracking=False,
        )

        async def bare(request: Request) -> JSONResponse:
            await read_json(request)
            return JSONResponse({"status": "ok"})

        service = feedback_app(logger, ip_rate=1e9, ip_burst=1e9, token_rate=1e9, token_burst=1e9)
        app = Starlette(routes=[Route("/bare", bare, methods=["POST"]), Mount("/rlhf", service)])
        rounds = 2 if quick else 5
        bodies = _bodies(logger, n * rounds)
        results: dict[str, list[dict[str, Any]]] = {"bare": [], "feedback": []}
        with running_server(app) as url:
            port = int(url.rsplit(":", 1)[1])
            for r in range(rounds):
                src = Path(tmp) / f"bodies{r}.jsonl"
                src.write_text("\n".join(bodies[r * n : (r + 1) * n]))
                results["bare"].append(_run_client("127.0.0.1", port, "/bare", src))
                results["feedback"].append(_run_client("127.0.0.1", port, "/rlhf/feedback", src))
        assert logger.flush()
        stored = {fb.id for fb in logger.store.scan_feedback()}
        accepted = {i for r in results["feedback"] for i in r["ids"]}
        logger.close()
    # rounds alternate bare / feedback, so a busy moment of the machine hits both; the round
    # with the median ratio is shown
    ratios = [
        _figures("feedback", f)[1] / _figures("bare", b)[1]
        for b, f in zip(results["bare"], results["feedback"], strict=True)
    ]
    mid = sorted(range(rounds), key=lambda k: ratios[k])[rounds // 2]
    rows = []
    for label in ("bare", "feedback"):
        fig = _figures(label, results[label][mid])
        rows.append((fig[0], f"{fig[1]:,.0f}", f"{fig[2]:.2f}", f"{fig[3]:.2f}", fig[4]))
    print(
        f"{n:,} POSTs a route and round, {rounds} rounds, {CLIENTS} keep-alive clients in "
        "another process; the round with the median ratio:"
    )
    print(table(rows, ("route", "req/s", "p50 ms", "p99 ms", "status:count")))
    lost = len(accepted - stored)
    print(
        f"feedback / floor: {ratios[mid]:.2f}x (target >= 0.6x; all rounds "
        f"{', '.join(f'{r:.2f}' for r in ratios)}); 2xx answers {len(accepted):,}, "
        f"in store {len(accepted & stored):,}, lost {lost}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        _client_main(sys.argv[2:])
    else:
        main(quick="--quick" in sys.argv)
