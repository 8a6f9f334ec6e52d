"""Per-call overhead of OpenAI instrumentations, and span loss at full speed.

Every figure comes from one run: sync ``chat.completions.create`` calls (plain and streamed)
through the real ``openai`` client over an in-process ``httpx2.MockTransport`` (no network
noise), making the same 40 production-shaped exchanges in each timed batch (2-3 models per
prompt, a third with earlier turns, log-normal prompt and answer sizes, one streamed chunk
per word), uninstrumented, then with rlhf-otel, the official OpenTelemetry instrumentation
(``opentelemetry-instrumentation-openai-v2``), OpenInference's and Langfuse's wrapper where
they are installed. Content capture is on for all of them. Each instrumentation exports to
the same in-memory span pipeline; rounds interleave the configurations so drift hits all
alike. Langfuse patches ``openai`` on import for good, so it runs in a child process with
its own baseline (the function it wrapped, interleaved with it).

Run: ``python benchmarks/bench_openai.py [--quick]``.
"""

from __future__ import annotations

import functools
import gc
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "instrumentation/openai/src"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

# The official instrumentation (util-genai based) puts content on the span with SPAN_ONLY.
os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")

import httpx2  # noqa: E402
import openai  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

_WORDS = (
    "the", "model", "answer", "code", "python", "error", "table", "query", "cache", "retry",
    "token", "latency", "format", "json", "list", "context", "example", "docs", "install",
)  # fmt: skip
_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini")


def _words(rng: random.Random, median: float, sigma: float, cap: int) -> list[str]:
    n = max(1, min(cap, int(rng.lognormvariate(math.log(median), sigma))))
    return [rng.choice(_WORDS) for _ in range(n)]


def _chunk(model: str, choices: list[Any], usage: dict[str, int] | None = None) -> str:
    body: dict[str, Any] = {"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                            "created": 1, "model": model, "choices": choices}  # fmt: skip
    if usage is not None:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n"


def _cases(n: int = 40, seed: int = 11) -> list[tuple[str, list[dict[str, str]], bytes, bytes]]:
    """``n`` production-shaped exchanges: (model, messages, completion body, SSE body).

    Each prompt goes to 2-3 models; a third of them carry earlier turns; prompt and answer
    sizes are log-normal with a long tail; a streamed answer comes one word per chunk (as
    tokens do), then the finish reason and the usage.
    """
    rng = random.Random(seed)
    cases: list[tuple[str, list[dict[str, str]], bytes, bytes]] = []
    while len(cases) < n:
        messages = [{"role": "system", "content": "You are a helpful assistant."}]
        if rng.random() < 0.33:
            for _ in range(rng.randint(1, 3)):
                messages.append({"role": "user", "content": " ".join(_words(rng, 20, 0.9, 800))})
                messages.append(
                    {"role": "assistant", "content": " ".join(_words(rng, 60, 0.8, 1500))}
                )
        messages.append({"role": "user", "content": " ".join(_words(rng, 18, 0.9, 800)) + "?"})
        for model in rng.sample(_MODELS, rng.choice((2, 3))):
            words = _words(rng, 60, 0.8, 1500)
            usage = {
                "prompt_tokens": sum(len(m["content"].split()) for m in messages),
                "completion_tokens": len(words),
            }
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            answer = " ".join(words)
            completion = json.dumps(
                {"id": "chatcmpl-bench", "object": "chat.completion", "created": 1,
                 "model": model, "usage": usage,
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": answer}}]}
            )  # fmt: skip
            sse = [
                _chunk(model, [{"index": 0, "delta": {"content": w if k == 0 else " " + w},
                                "finish_reason": None}])
                for k, w in enumerate(words)
            ]  # fmt: skip
            sse.append(_chunk(model, [{"index": 0, "delta": {}, "finish_reason": "stop"}]))
            sse.append(_chunk(model, [], usage))
            sse.append("data: [DONE]\n\n")
            cases.append((model, list(messages), completion.encode(), "".join(sse).encode()))
    return cases[:n]


_CASES = _cases()
CHUNKS = statistics.mean(len(c[3].split(b"\n\n")) - 1 for c in _CASES)
_next = 0


def _handler(request: httpx2.Request) -> httpx2.Response:
    model, _, completion, sse = _CASES[int(request.headers["x-bench-case"])]
    if b'"stream":true' in request.content or b'"stream": true' in request.content:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)
    return httpx2.Response(200, headers={"content-type": "application/json"}, content=completion)


def make_client() -> openai.OpenAI:
    """A real client whose HTTP stays in process."""
    return openai.OpenAI(
        api_key="bench",
        base_url="https://api.openai.com/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(_handler)),
    )


class CountingExporter(SpanExporter):
    """Counts exported spans; keeps nothing."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


def _call(client: openai.OpenAI, stream: bool, create: Callable[..., Any] | None = None) -> None:
    """The next exchange of the workload (every configuration makes the same sequence),
    through ``create`` (default: ``client.chat.completions.create``)."""
    global _next
    k, _next = _next, (_next + 1) % len(_CASES)
    model, messages, _, _ = _CASES[k]
    create = create or client.chat.completions.create
    headers = {"x-bench-case": str(k)}
    if stream:
        for _ in create(
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=headers,
        ):
            pass
    else:
        create(model=model, messages=messages, temperature=0.2, extra_headers=headers)


# ------------------------------------------------------------------ configurations
Setup = Callable[[TracerProvider], Callable[[], None]]


def _ours(provider: TracerProvider) -> Callable[[], None]:
    from rlhf_otel_instrumentation.openai import OpenAIInstrumentor

    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider, capture_content=True)
    return inst.uninstrument  # type: ignore[no-any-return]


def _official(provider: TracerProvider) -> Callable[[], None]:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    # With content capture on, the official instrumentation emits the messages as log events.
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(InMemoryLogRecordExporter()))
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider, logger_provider=logs)

    def undo() -> None:
        inst.uninstrument()
        logs.shutdown()

    return undo


def _openinference(provider: TracerProvider) -> Callable[[], None]:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider)
    return inst.uninstrument  # type: ignore[no-any-return]


def available() -> dict[str, Setup | None]:
    """Configurations in run order; ``None`` is the uninstrumented baseline."""
    configs: dict[str, Setup | None] = {"uninstrumented": None, "rlhf-otel": _ours}
    for name, module, setup in (
        ("otel openai-v2", "opentelemetry.instrumentation.openai_v2", _official),
        ("openinference", "openinference.instrumentation.openai", _openinference),
    ):
        try:
            __import__(module)
        except Exception:  # not installed (or broken): skipped and said so
            print(f"  ({name} not importable: skipped)")
            continue
        configs[name] = setup
    return configs


@contextmanager
def _instrumented(setup: Setup | None, processor: Any) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    undo = setup(provider) if setup is not None else None
    try:
        yield provider
    finally:
        if undo is not None:
            undo()
        provider.shutdown()


def _per_call_us(
    client: openai.OpenAI, stream: bool, calls: int, create: Callable[..., Any] | None = None
) -> float:
    # CPU time of this process, not wall time: the benchmark machine is shared, and other
    # processes' load would otherwise swamp differences of tens of microseconds.
    global _next
    _next = 0  # each timed batch makes the same exchanges, whatever it measures
    start = time.process_time()
    for _ in range(calls):
        _call(client, stream, create)
    return (time.process_time() - start) / calls * 1e6


def measure(
    configs: dict[str, Setup | None], stream: bool, rounds: int, calls: int
) -> dict[str, tuple[float, float]]:
    """(median, minimum) over rounds of the CPU time per call, for each configuration.

    Rounds interleave the configurations; the garbage collector is paused inside each timed
    batch (collected before it) so a full collection does not land on one configuration.
    """
    client = make_client()
    samples: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(rounds):
        for name, setup in configs.items():
            with _instrumented(setup, SimpleSpanProcessor(CountingExporter())):
                _per_call_us(client, stream, 5)  # warm-up
                gc.collect()
                gc.disable()
                try:
                    samples[name].append(_per_call_us(client, stream, calls))
                finally:
                    gc.enable()
    client.close()
    return {name: (statistics.median(v), min(v)) for name, v in samples.items()}


def load(configs: dict[str, Setup | None], calls: int) -> dict[str, tuple[int, int]]:
    """Spans exported of ``calls`` made at full speed: stock BatchSpanProcessor for all,
    plus rlhf-otel through its own logger pipeline (RLHFSpanProcessor into a memory store)."""
    client = make_client()
    out: dict[str, tuple[int, int]] = {}
    for name, setup in configs.items():
        if setup is None:
            continue
        exporter = CountingExporter()
        with _instrumented(setup, BatchSpanProcessor(exporter)) as provider:
            for _ in range(calls):
                _call(client, False)
            provider.force_flush()
        out[f"{name} + BatchSpanProcessor"] = (exporter.count, calls)
    from rlhf_otel_instrumentation.openai import OpenAIInstrumentor

    import rlhf_otel

    logger = rlhf_otel.create_rlhf_logger(
        backend="memory", tracer_provider=TracerProvider(), memory_max_entries=None
    )
    inst = OpenAIInstrumentor()
    inst.instrument(logger=logger)
    try:
        for _ in range(calls):
            _call(client, False)
        logger.flush()
        delivery = logger.delivery()
        out["rlhf-otel + RLHF logger pipeline"] = (delivery["stored"], calls)
        if delivery["dropped"]:
            print(f"  rlhf-otel dropped: {delivery['dropped']}")
    finally:
        inst.uninstrument()
        logger.close()
    client.close()
    return out


def _langfuse_child(quick: bool) -> dict[str, Any] | None:
    """Langfuse's wrapper measured in a child process (it patches openai at import)."""
    try:
        __import__("langfuse")
    except ImportError:
        print("  (langfuse not installed: skipped)")
        return None
    proc = subprocess.run(
        [sys.executable, __file__, "--langfuse-child"] + (["--quick"] if quick else []),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        print(f"  (langfuse run failed: {proc.stderr.strip().splitlines()[-1:]})")
        return None
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def langfuse_child_main(quick: bool) -> None:
    """In the child: baseline and Langfuse-wrapped calls, printed as one JSON line.

    Langfuse patches ``Completions.create`` for the whole process, so the baseline calls
    the function it wrapped (``__wrapped__``) on the same client: rounds of the two then
    interleave, as the other configurations' do, and drift hits both alike.
    """
    rounds, calls = (3, 20) if quick else (25, 40)
    from langfuse import Langfuse
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    Langfuse(
        public_key="pk-bench",
        secret_key="sk-bench",
        base_url="http://127.0.0.1:9",
        tracer_provider=TracerProvider(),
        span_exporter=exporter,
    )
    from langfuse.openai import openai as lf_openai
    from openai.resources.chat.completions import Completions

    lf_client = lf_openai.OpenAI(
        api_key="bench",
        base_url="https://api.openai.com/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(_handler)),
    )
    original = Completions.create.__wrapped__
    plain_create = functools.partial(original, lf_client.chat.completions)

    def timed(stream: bool, create: Callable[..., Any] | None) -> float:
        gc.collect()
        gc.disable()
        try:
            return _per_call_us(lf_client, stream, calls, create)
        finally:
            gc.enable()

    out: dict[str, list[float]] = {}
    for stream, kind in ((False, "plain"), (True, "stream")):
        timed(stream, None)  # warm-up
        base: list[float] = []
        wrapped: list[float] = []
        for _ in range(rounds):
            base.append(timed(stream, plain_create))
            wrapped.append(timed(stream, None))
            exporter.clear()
        out[kind] = [statistics.median(base), statistics.median(wrapped)]
    print(json.dumps(out))


def _table(title: str, results: dict[str, tuple[float, float]]) -> None:
    base, base_min = results["uninstrumented"]
    ours = results["rlhf-otel"][0] - base
    ours_min = results["rlhf-otel"][1] - base_min
    print(f"\n{title}  (median of rounds; [best round] in brackets)")
    print(
        f"  {'configuration':<18}{'us/call':>9}{'overhead us':>13}{'x baseline':>12}"
        f"{'overhead / ours':>17}{'[best overhead]':>17}{'[/ ours]':>10}"
    )
    for name, (value, best) in results.items():
        over, over_min = value - base, best - base_min
        rel = "" if name == "uninstrumented" else f"{over / ours:>17.2f}"
        rel_min = (
            "" if name == "uninstrumented" else f"{over_min:>17.1f}{over_min / ours_min:>10.2f}"
        )
        print(f"  {name:<18}{value:>9.1f}{over:>13.1f}{value / base:>12.3f}{rel}{rel_min}")


def main(quick: bool = False) -> None:
    """Print the overhead tables and the full-speed span counts."""
    rounds, calls, load_calls = (3, 20, 1_000) if quick else (25, 40, 8_000)
    print(
        f"bench_openai: {rounds} rounds x {calls} calls per configuration (median of "
        f"per-round CPU time per call); load: {load_calls} calls; openai {openai.__version__}"
    )
    configs = available()
    print(f"  machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for stream in (False, True):
        results = measure(configs, stream, rounds, calls)
        _table(
            f"streamed chat call ({CHUNKS:.0f} chunks on average)"
            if stream
            else "non-streamed chat call",
            results,
        )
    lf = _langfuse_child(quick)
    if lf is not None:
        print("\nlangfuse.openai wrapper (child process, own baseline)")
        for kind in ("plain", "stream"):
            base, value = lf[kind]
            print(
                f"  {kind:<8} baseline {base:8.1f} us   langfuse {value:8.1f} us   "
                f"overhead {value - base:7.1f} us   x baseline {value / base:.3f}"
            )
    print(f"\nfull-speed load: {load_calls} sync calls in one loop")
    for name, (got, sent) in load(configs, load_calls).items():
        print(
            f"  {name:<40} exported {got:>6} of {sent}   lost {sent - got:>5} "
            f"({(sent - got) / sent:.1%})"
        )


if __name__ == "__main__":
    if "--langfuse-child" in sys.argv:
        langfuse_child_main("--quick" in sys.argv)
    else:
        main(quick="--quick" in sys.argv)
