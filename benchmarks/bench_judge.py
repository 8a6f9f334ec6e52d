"""``judge run`` throughput against a bare asyncio loop of the same requests.

5,000 interactions (quick: 300) in a JSONL store are judged at concurrency 16 by
``rlhf_otel.judges.run_judge`` (selection, resumption check, limits, retries, parsing,
verdicts written to the store) and, separately, sent as the same chat requests by 16
asyncio workers over one ``openai.AsyncOpenAI`` that only await the answer. Both talk to
the local judge server (tests/servers/judge_server.py) in its own process. Printed: both
throughputs, their ratio (judge / bare; the issue asks for >= 0.8) and verdicts lost
(stored verdicts short of items judged; must be 0).

Run: ``python benchmarks/bench_judge.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import openai

from rlhf_otel.judges import JudgeSpec, parse_judge, run_judge
from rlhf_otel.judges._prompt import messages, response_format
from rlhf_otel.records import FeedbackFilter, Interaction
from rlhf_otel.stores import JsonlStore

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = 16
_SERVER = (
    "import sys, threading\n"
    "from tests.servers.judge_server import JudgeServer\n"
    "with JudgeServer() as s:\n"
    "    print(s.base_url, flush=True)\n"
    "    sys.stdin.read()\n"
)


def _spec(base_url: str, version: str) -> JudgeSpec:
    return parse_judge(
        {
            "name": "bench",
            "version": version,
            "endpoint": {
                "base_url": base_url,
                "model": "judge",
                "api_key_env": "BENCH_JUDGE_KEY",
                "max_tokens": 64,
            },  # fmt: skip
            "rubric": {"type": "binary"},
            "limits": {"concurrency": CONCURRENCY},
        }
    )


def _interactions(n: int) -> list[Interaction]:
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return [
        Interaction(
            id=f"bench-{k:06d}",
            prompt=f"How do I do task {k}?",
            response=f"Here is how to do task {k}: first this, then that, then check it.",
            timestamp=t0 + timedelta(seconds=k),
            model="m1",
        )
        for k in range(n)
    ]


async def _bare(base_url: str, spec: JudgeSpec, its: list[Interaction]) -> float:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0)
    fmt = response_format(spec)
    queue = deque(messages(spec, [it]) for it in its)

    async def worker() -> None:
        while queue:
            msgs = queue.popleft()
            kwargs: dict[str, Any] = {
                "model": spec.endpoint.model, "messages": msgs, "temperature": 0.0,
                "max_tokens": spec.endpoint.max_tokens, "response_format": fmt,
            }  # fmt: skip
            await client.chat.completions.create(**kwargs)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - start
    await client.close()
    return elapsed


def main(quick: bool = False) -> None:
    n = 300 if quick else 5_000
    os.environ["BENCH_JUDGE_KEY"] = "local"
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER], cwd=ROOT, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        its = _interactions(n)
        with tempfile.TemporaryDirectory() as tmp:
            with JsonlStore(Path(tmp)) as store:
                store.write(its, [])
            asyncio.run(_bare(base_url, _spec(base_url, "warm"), its[:50]))
            bare_s = asyncio.run(_bare(base_url, _spec(base_url, "1"), its))
            with JsonlStore(Path(tmp)) as store:
                start = time.perf_counter()
                result = run_judge(_spec(base_url, "1"), store)
                judge_s = time.perf_counter() - start
                flt = FeedbackFilter(source="model", user_id="bench@1")
                stored = sum(1 for _ in store.scan_feedback(flt))
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)
    lost = result.judged - stored
    bare_rate, judge_rate = n / bare_s, n / judge_s
    print(f"{n:,} interactions, concurrency {CONCURRENCY}")
    print(f"bare asyncio loop (openai.AsyncOpenAI): {bare_rate:,.0f} requests/s")
    print(f"rlhf-otel judge run:                    {judge_rate:,.0f} items/s "
          f"(judged {result.judged:,}, failed {sum(result.failed.values())})")  # fmt: skip
    print(f"ratio judge / bare: {judge_rate / bare_rate:.2f}x (target >= 0.8); lost {lost}")
    if lost or result.judged != n:
        raise SystemExit(f"lost verdicts: judged {result.judged} of {n}, stored {stored}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
