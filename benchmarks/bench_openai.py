"""Per-call overhead of OpenAI instrumentations, and span loss at full speed.

Every figure comes from one run: a sync ``chat.completions.create`` (plain and streamed)
through the real ``openai`` client over an in-process ``httpx2.MockTransport`` (no network
noise), uninstrumented, then with rlhf-otel, the official OpenTelemetry instrumentation
(``opentelemetry-instrumentation-openai-v2``), OpenInference's and Langfuse's wrapper where
they are installed. Content capture is on for all of them. Each instrumentation exports to
the same in-memory span pipeline; rounds interleave the configurations so drift hits all
alike. Langfuse patches ``openai`` on import for good, so it runs in a child process with
its own baseline.

Run: ``python benchmarks/bench_openai.py [--quick]``.
"""

from __future__ import annotations

import gc
import json
import os
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

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Give me three tips for writing clear commit messages."},
]
ANSWER = "1. Use the imperative mood. 2. Keep the subject short. 3. Explain why, not how."
_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-bench",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": ANSWER},
            }
        ],
        "usage": {"prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50},
    }
).encode()


def _sse() -> bytes:
    out = []
    words = ANSWER.split(" ")
    for i, word in enumerate(words):
        delta = {"content": word if i == 0 else " " + word}
        out.append(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-bench",
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
            }
        )
    out.append(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-bench",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    )
    out.append(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-bench",
            "choices": [],
            "usage": {"prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50},
        }
    )
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in out) + "data: [DONE]\n\n"
    return body.encode()


_STREAM = _sse()


def _handler(request: httpx2.Request) -> httpx2.Response:
    if b'"stream":true' in request.content or b'"stream": true' in request.content:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=_STREAM)
    return httpx2.Response(200, headers={"content-type": "application/json"}, content=_COMPLETION)


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


def _call(client: openai.OpenAI, stream: bool) -> None:
    if stream:
        for _ in client.chat.completions.create(
            model="gpt-bench",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        ):
            pass
    else:
        client.chat.completions.create(model="gpt-bench", messages=MESSAGES, temperature=0.2)


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


def _per_call_us(client: openai.OpenAI, stream: bool, calls: int) -> float:
    # CPU time of this process, not wall time: the benchmark machine is shared, and other
    # processes' load would otherwise swamp differences of tens of microseconds.
    start = time.process_time()
    for _ in range(calls):
        _call(client, stream)
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
    """In the child: baseline and Langfuse-wrapped calls, printed as one JSON line."""
    rounds, calls = (3, 20) if quick else (25, 40)
    client = make_client()

    def timed(c: openai.OpenAI, s: bool) -> float:
        gc.collect()
        gc.disable()
        try:
            return _per_call_us(c, s, calls)
        finally:
            gc.enable()

    base = {s: [timed(client, s) for _ in range(rounds)] for s in (False, True)}
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

    lf_client = lf_openai.OpenAI(
        api_key="bench",
        base_url="https://api.openai.com/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(_handler)),
    )
    wrapped = {s: [timed(lf_client, s) for _ in range(rounds)] for s in (False, True)}
    print(
        json.dumps(
            {
                "plain": [statistics.median(base[False]), statistics.median(wrapped[False])],
                "stream": [statistics.median(base[True]), statistics.median(wrapped[True])],
            }
        )
    )


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
            "streamed chat call (14 chunks + usage)" if stream else "non-streamed chat call",
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
