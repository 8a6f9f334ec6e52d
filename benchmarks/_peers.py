"""The peers' decorators, measured in the same run as ``@rlhf_otel.trace_llm``.

``measure(n)`` returns ``(label, microseconds_per_call, dropped)`` rows for:

- a bare OTel span through the stock ``BatchSpanProcessor`` + OTLP/HTTP exporter (the
  pipeline the peers build on, so their own cost can be told apart from the pipeline's);
- Langfuse ``@observe``, OpenLLMetry (traceloop-sdk) ``@workflow`` and OpenInference
  ``@tracer.llm``, each set up the way its documentation tells a user to, so with its own
  default batching processor and exporter.

Each one runs in its own subprocess because Langfuse and traceloop-sdk keep process-wide
state (traceloop sets the global tracer provider, Langfuse keeps a client singleton), and so
one cannot warm or slow down another. Their exporters all send OTLP/HTTP to a sink on
127.0.0.1 started here, which counts the spans it receives (under a lock, before answering
200), so ``dropped = calls made - spans received`` once the subprocess has flushed, shut its
pipeline down and exited. Every ``OTEL_*``, ``LANGFUSE_*`` and ``TRACELOOP_*`` variable and
proxy setting is removed from the subprocess environment so nothing goes anywhere but the
loopback sink; traceloop's telemetry is switched off.

Run by hand: ``python benchmarks/_peers.py 2000 [langfuse traceloop ...]``.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
_MARK = "PEER-RESULT "
_SPAN_NAME = "trivial"  # every peer's span for one call has this in its name
_WARMUP_DIVISOR = 10
_REPEATS = 5  # as _util.per_call_us
_CHILD_TIMEOUT_S = 900.0


# (key, label, distributions reported with their versions, module that must import)
PEERS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    (
        "otel-batch",
        "bare OTel span, BatchSpanProcessor + OTLP/HTTP",
        ("opentelemetry-sdk",),
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    ),
    ("langfuse", "Langfuse @observe", ("langfuse",), "langfuse"),
    ("traceloop", "OpenLLMetry @workflow", ("traceloop-sdk",), "traceloop.sdk"),
    (
        "openinference",
        "OpenInference @tracer.llm",
        ("openinference-instrumentation",),
        "openinference.instrumentation",
    ),
)


class _Sink(ThreadingHTTPServer):
    """OTLP/HTTP receiver on 127.0.0.1: counts spans per path prefix, answers 200 to all."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.lock = threading.Lock()
        self.spans: Counter[str] = Counter()  # "<prefix> <span name>" -> count
        self.requests: Counter[str] = Counter()  # path -> count
        self.errors: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def received(self, prefix: str) -> tuple[int, int]:
        """(spans for ``prefix`` whose name contains the function name, other spans)."""
        with self.lock:
            ours = sum(
                c for k, c in self.spans.items() if k.startswith(f"{prefix} ") and _SPAN_NAME in k
            )
            total = sum(c for k, c in self.spans.items() if k.startswith(f"{prefix} "))
        return ours, total - ours


class _SinkHandler(BaseHTTPRequestHandler):
    server: _Sink
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    def _reply(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._reply(b"{}", "application/json")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        prefix = "/" + self.path.lstrip("/").split("/", 1)[0]
        with self.server.lock:
            self.server.requests[self.path] += 1
        if not self.path.endswith("/v1/traces"):
            # metrics, logs, scores, media: accepted and ignored
            self._reply(b"{}", "application/json")
            return
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        counts: Counter[str] = Counter()
        try:
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        counts[f"{prefix} {span.name}"] += 1
        except Exception as exc:  # a bad body is reported, not hidden
            with self.server.lock:
                self.server.errors.append(f"{self.path}: {exc!r}")
        with self.server.lock:
            self.server.spans.update(counts)
        self._reply(ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")


def _versions(dists: tuple[str, ...]) -> str:
    out = []
    for dist in dists:
        try:
            out.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{dist} missing")
    return ", ".join(out)


def _child_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("OTEL_", "LANGFUSE_", "TRACELOOP_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["TRACELOOP_TELEMETRY"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def measure(n: int, only: list[str] | None = None) -> list[tuple[str, float, str]]:
    """One row per peer: (label with versions, microseconds per call, what was dropped).

    A peer that is not installed gets a row with ``nan`` and "not installed"; one whose
    subprocess fails gets ``nan`` and the last line of its error.
    """
    rows: list[tuple[str, float, str]] = []
    sink = _Sink()
    thread = threading.Thread(target=sink.serve_forever, name="peers-otlp-sink", daemon=True)
    thread.start()
    try:
        for key, label, dists, module in PEERS:
            if only is not None and key not in only:
                continue
            full_label = f"{label} ({_versions(dists)})"
            if importlib.util.find_spec(module.split(".")[0]) is None or not _importable(module):
                rows.append((f"{label} ({dists[0]})", float("nan"), "not installed"))
                continue
            rows.append((full_label, *_run_child(key, n, sink)))
        if sink.errors:
            print(
                f"  note: the OTLP sink could not parse {len(sink.errors)} request(s): "
                f"{sink.errors[0]}"
            )
    finally:
        sink.shutdown()
        sink.server_close()
    return rows


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _run_child(key: str, n: int, sink: _Sink) -> tuple[float, str]:
    endpoint = f"{sink.base_url}/{key}"
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", key, str(n), endpoint],
            capture_output=True,
            text=True,
            env=_child_env(),
            timeout=_CHILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return float("nan"), f"timed out after {_CHILD_TIMEOUT_S:.0f} s"
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith(_MARK):
            result = json.loads(line[len(_MARK) :])
    if proc.returncode != 0 or result is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return float("nan"), f"failed (exit {proc.returncode}): {tail[:120]}"
    received, other = sink.received(f"/{key}")
    calls = int(result["calls"])
    dropped = calls - received
    text = f"{dropped:,} of {calls:,} ({dropped / calls:.0%})"
    if other:
        text += f", +{other:,} other spans"
    if not result["flushed"]:
        text += ", flush reported failure"
    return float(result["us"]), text


# --- child side: one peer per process -------------------------------------------------


def _trivial(prompt: str) -> str:
    return "ok"


def _setup_otel_batch(endpoint: str) -> tuple[Callable[[], object], Callable[[], bool]]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind

    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
    )
    tracer = provider.get_tracer("bench")

    def call() -> object:
        with tracer.start_as_current_span(
            "chat trivial", kind=SpanKind.CLIENT, attributes={"gen_ai.operation.name": "chat"}
        ):
            return _trivial("hello")

    def finish() -> bool:
        ok = provider.force_flush()
        provider.shutdown()
        return bool(ok)

    return call, finish


def _setup_langfuse(endpoint: str) -> tuple[Callable[[], object], Callable[[], bool]]:
    from langfuse import Langfuse, observe

    # Documented setup: a client with keys and a host; @observe finds it through get_client().
    client = Langfuse(public_key="pk-lf-bench", secret_key="sk-lf-bench", base_url=endpoint)
    traced = observe()(_trivial)

    def finish() -> bool:
        client.flush()
        client.shutdown()
        return True

    return lambda: traced("hello"), finish


def _setup_traceloop(endpoint: str) -> tuple[Callable[[], object], Callable[[], bool]]:
    from opentelemetry import trace
    from traceloop.sdk import Traceloop
    from traceloop.sdk.decorators import workflow

    # Documented setup: Traceloop.init with an endpoint; its default BatchSpanProcessor and
    # OTLP/HTTP exporter, every instrumentation it ships, metrics on (to the sink too).
    Traceloop.init(app_name="bench", api_endpoint=endpoint, telemetry_enabled=False)
    traced = workflow(name="trivial")(_trivial)
    provider = trace.get_tracer_provider()

    def finish() -> bool:
        ok = provider.force_flush()  # type: ignore[attr-defined]
        provider.shutdown()  # type: ignore[attr-defined]
        return bool(ok)

    return lambda: traced("hello"), finish


def _setup_openinference(endpoint: str) -> tuple[Callable[[], object], Callable[[], bool]]:
    from openinference.instrumentation import TracerProvider
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Documented setup: OpenInference's TracerProvider, a BatchSpanProcessor with the OTLP
    # exporter, and a tracer from it whose decorators make the spans.
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
    )
    tracer = provider.get_tracer("bench")
    traced = tracer.llm(_trivial)

    def finish() -> bool:
        ok = provider.force_flush()
        provider.shutdown()
        return bool(ok)

    return lambda: traced("hello"), finish


_SETUPS = {
    "otel-batch": _setup_otel_batch,
    "langfuse": _setup_langfuse,
    "traceloop": _setup_traceloop,
    "openinference": _setup_openinference,
}


def _child(key: str, n: int, endpoint: str) -> None:
    from _util import per_call_us

    call, finish = _SETUPS[key](endpoint)
    warmup = n // _WARMUP_DIVISOR
    per_call_us(call, warmup, repeats=1)
    us = per_call_us(call, n, repeats=_REPEATS)
    started = time.perf_counter()
    flushed = finish()
    result = {
        "us": us,
        "calls": warmup + n * _REPEATS,
        "flushed": flushed,
        "flush_s": time.perf_counter() - started,
    }
    print(_MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) >= 2:
        for row in measure(int(sys.argv[1]), only=sys.argv[2:] or None):
            print(row)
    else:
        sys.exit(f"usage: _peers.py N [{'|'.join(k for k, *_ in PEERS)} ...]")
