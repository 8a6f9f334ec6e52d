"""``rlhf-otel collect`` ingest rate on loopback, against the raw cost of decoding the payloads.

A load generator (several threads, keep-alive connections) posts gzip OTLP/protobuf payloads
of interaction and feedback spans, built by the real SDK encoder, to ``rlhf-otel collect``
running as its own process. Baseline, measured in the same run (best of three): decompressing,
parsing and turning the same payloads into records in this process, with no HTTP and no store.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind

from rlhf_otel.receiver._decode import decode_request, decompress, parse_request
from rlhf_otel.recording import (
    feedback_links,
    feedback_to_attributes,
    interaction_span_name,
    interaction_to_attributes,
)
from rlhf_otel.records import format_span_id
from rlhf_otel.records._model import Feedback, FeedbackType, Interaction, TokenUsage

try:
    from _util import table
except ImportError:  # run as a module from the repository root
    from benchmarks._util import table

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _iid(ctx: SpanContext) -> str:
    return format_span_id(ctx.trace_id, ctx.span_id)


def _payload(n_pairs: int, seed: int) -> bytes:
    """gzip protobuf of ``n_pairs`` interactions, each with one rating span."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    for i in range(n_pairs):
        it = Interaction(
            id="x",
            prompt=f"prompt {seed}-{i} " + "lorem ipsum " * 20,
            response="answer " * 40,
            timestamp=T0,
            model="gpt-bench",
            provider="openai",
            model_params={"temperature": 0.7},
            latency_ms=321.0,
            token_usage=TokenUsage(120, 80, 200),
            user_id=f"u{i % 50}",
            session_id="s",
            context=[{"role": "system", "content": "be helpful"}],
        )
        with tracer.start_as_current_span(
            interaction_span_name(it.model),
            kind=SpanKind.CLIENT,
            attributes=interaction_to_attributes(it),
        ) as span:
            iid = _iid(span.get_span_context())
        fb = Feedback(
            id=f"fb-{seed}-{i}",
            interaction_id=iid,
            type=FeedbackType.RATING,
            data={"rating": 4, "max_rating": 5, "comment": "fine"},
            timestamp=T0,
        )
        with tracer.start_as_current_span(
            "feedback rating", attributes=feedback_to_attributes(fb), links=feedback_links(fb)
        ):
            pass
    provider.shutdown()
    return gzip.compress(encode_spans(exporter.get_finished_spans()).SerializeToString())


def _foreign_attributes(i: int, seed: int) -> dict[str, object]:
    """An interaction span of another library: openai-v2 (current gen_ai.*), OpenInference
    or legacy OpenLLMetry, in turn, with the same content as ``_payload``'s."""
    prompt, answer = f"prompt {seed}-{i} " + "lorem ipsum " * 20, "answer " * 40
    kind = i % 3
    if kind == 0:
        return {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-bench",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 80,
            "gen_ai.input.messages": json.dumps(
                [
                    {"role": "system", "parts": [{"type": "text", "content": "be helpful"}]},
                    {"role": "user", "parts": [{"type": "text", "content": prompt}]},
                ]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]
            ),
        }
    if kind == 1:
        return {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-bench",
            "llm.provider": "openai",
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "be helpful",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": prompt,
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": answer,
            "llm.token_count.prompt": 120,
            "llm.token_count.completion": 80,
            "input.value": prompt,
            "output.value": answer,
        }
    return {
        "llm.request.type": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-bench",
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "be helpful",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": prompt,
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": answer,
        "gen_ai.usage.prompt_tokens": 120,
        "gen_ai.usage.completion_tokens": 80,
        "llm.usage.total_tokens": 200,
    }


def _mixed_payload(n_pairs: int, seed: int) -> bytes:
    """Like ``_payload``, but each interaction is another library's span (mixed dialects)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    for i in range(n_pairs):
        with tracer.start_as_current_span(
            "chat gpt-bench", kind=SpanKind.CLIENT, attributes=_foreign_attributes(i, seed)
        ) as span:
            iid = _iid(span.get_span_context())
        fb = Feedback(
            id=f"fb-{seed}-{i}",
            interaction_id=iid,
            type=FeedbackType.RATING,
            data={"rating": 4, "max_rating": 5, "comment": "fine"},
            timestamp=T0,
        )
        with tracer.start_as_current_span(
            "feedback rating", attributes=feedback_to_attributes(fb), links=feedback_links(fb)
        ):
            pass
    provider.shutdown()
    return gzip.compress(encode_spans(exporter.get_finished_spans()).SerializeToString())


def _collect_rate(payloads: list[bytes], total: int, threads: int) -> float:
    """Records/s of ``collect`` (memory store) for ``payloads``; checks all were stored."""
    with tempfile.TemporaryDirectory() as data_dir:
        process, host, port = _start_collect("memory", data_dir)
        try:
            seconds, _ = _load(host, port, payloads, threads)
            stored = _stored(host, port)
        finally:
            process.terminate()
            process.wait(60)
    if stored != total:
        raise RuntimeError(f"stored {stored} of {total} records")
    return total / seconds


def _decode_rate(payloads: list[bytes], spans_each: int) -> float:
    start = time.perf_counter()
    for body in payloads:
        decoded = decode_request(
            parse_request(decompress(body, "gzip", 1 << 30), "application/x-protobuf")
        )
        assert decoded.kept_spans == spans_each
    return len(payloads) * spans_each / (time.perf_counter() - start)


def _start_collect(backend: str, data_dir: str) -> tuple[subprocess.Popen[str], str, int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rlhf_otel.cli._collect",
            "collect",
            "--backend",
            backend,
            "--data-dir",
            data_dir,
            "--port",
            "0",
            "--max-pending",
            "50000",
            "--log-level",
            "WARNING",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    while "listening on" not in line:
        if not line:
            raise RuntimeError(f"rlhf-otel collect did not start (backend {backend})")
        line = process.stderr.readline()
    url = line.split("listening on ", 1)[1].strip()
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    return process, host_port.split(":")[0], int(host_port.split(":")[1])


def _load(host: str, port: int, payloads: list[bytes], threads: int) -> tuple[float, int]:
    """Post every payload (retrying 429/503 after Retry-After); seconds taken, retries."""
    queue = list(payloads)
    lock = threading.Lock()
    retries = [0]

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
        while True:
            with lock:
                if not queue:
                    break
                body = queue.pop()
            while True:
                conn.request("POST", "/v1/traces", body, headers)
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    break
                if response.status not in (429, 503):
                    raise RuntimeError(f"collect answered {response.status}")
                with lock:
                    retries[0] += 1
                time.sleep(float(response.getheader("Retry-After") or 1) / 10)
                if response.getheader("Connection") == "close":
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=60)
        conn.close()

    start = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - start, retries[0]


def _stored(host: str, port: int) -> int:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/healthz")
    stats = json.loads(conn.getresponse().read())
    conn.close()
    return int(stats["interactions_stored"]) + int(stats["feedback_stored"])


def _backends() -> list[str]:
    try:
        import rlhf_otel.stores.jsonl._store  # noqa: F401
    except ImportError:
        return ["memory"]
    return ["memory", "local"]


def main(quick: bool = False) -> None:
    """Print ingest spans/s per store backend next to the decode-only rate."""
    n_payloads, pairs, threads = (20, 50, 4) if quick else (400, 100, 8)
    spans_each = 2 * pairs
    payloads = [_payload(pairs, seed) for seed in range(n_payloads)]
    total = n_payloads * spans_each
    # Best of three: the machine is shared, and the baseline should be the real cost.
    decode = max(_decode_rate(payloads, spans_each) for _ in range(3))
    rows = [("decode only (gunzip + parse + records)", f"{decode:,.0f}", "1.00", "-")]
    for backend in _backends():
        with tempfile.TemporaryDirectory() as data_dir:
            process, host, port = _start_collect(backend, data_dir)
            try:
                seconds, retries = _load(host, port, payloads, threads)
                stored = _stored(host, port)
            finally:
                process.terminate()
                process.wait(60)
            if stored != total:
                raise RuntimeError(f"{backend}: stored {stored} of {total} records")
            rate = total / seconds
            label = "JSONL" if backend == "local" else backend
            rows.append(
                (
                    f"collect -> {label} store ({threads} clients)",
                    f"{rate:,.0f}",
                    f"{rate / decode:.2f}",
                    str(retries),
                )
            )
    # Mixed dialects against the same load of our own spans, one run, best of two each.
    mixed = [_mixed_payload(pairs, seed) for seed in range(n_payloads)]
    ours_rate = max(_collect_rate(payloads, total, threads) for _ in range(2))
    mixed_rate = max(_collect_rate(mixed, total, threads) for _ in range(2))
    rows.append(
        (
            f"collect, our spans -> memory ({threads} clients)",
            f"{ours_rate:,.0f}",
            f"{ours_rate / decode:.2f}",
            "-",
        )
    )
    rows.append(
        (
            f"collect, mixed dialects -> memory (x ours: {mixed_rate / ours_rate:.2f}, bar 0.8)",
            f"{mixed_rate:,.0f}",
            f"{mixed_rate / decode:.2f}",
            "-",
        )
    )
    print(
        f"{n_payloads} gzip OTLP payloads x {spans_each} spans "
        f"({total:,} spans, {sum(map(len, payloads)) / n_payloads / 1024:.1f} KiB each)"
    )
    print(table(rows, ("path", "spans/s", "x decode", "429/503 retries")))


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
