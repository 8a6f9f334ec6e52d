"""Core benchmarks: @trace_llm overhead vs a bare span, and logger throughput.

Every figure is printed next to its baseline from the same run:
- decorator: microseconds per call of a trivial function, bare, inside a bare OTel span
  exported by the SDK's stock ``BatchSpanProcessor`` (the baseline a user compares with),
  inside the SDK making exactly @trace_llm's span shape through that same processor (the
  cost of the shape itself; the bar is @trace_llm <= 1.2x that), under @trace_llm (its
  own queue and memory store), and under the peers' decorators when they are installed
  (``pip install -e '.[bench]'``). Rounds are interleaved and the medians shown; CPU time
  of the whole process (every thread) is shown beside wall time.
- logger: records/s and CPU microseconds per record (all threads) of log_interaction + one
  feedback per interaction into the memory store, with what was stored and dropped, next to
  bare spans through the same processor and store, and to the SDK alone creating spans of
  exactly our shapes with no processor (the floor no logger on this SDK can beat; the bar
  is the logger >= 0.6x that). The three are interleaved over several rounds and the
  medians shown; the two bars print as ratios at the end.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

from _util import per_call_us, table
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind

import rlhf_otel
from rlhf_otel.stores import MemoryStore

try:
    import _peers
except ImportError:  # pragma: no cover - optional
    _peers = None  # type: ignore[assignment]


def _decorator_rows(n: int, rounds: int = 5) -> list[tuple[str, ...]]:
    provider = TracerProvider()
    logger = rlhf_otel.create_rlhf_logger(
        store=MemoryStore(max_entries=None), tracer_provider=provider
    )
    stock = TracerProvider()
    stock_spans = InMemorySpanExporter()
    stock.add_span_processor(BatchSpanProcessor(stock_spans))
    tracer = stock.get_tracer("bench")

    def trivial(prompt: str) -> str:
        return "ok"

    def bare_span() -> str:
        with tracer.start_as_current_span(
            "chat m", kind=SpanKind.CLIENT, attributes={"gen_ai.operation.name": "chat"}
        ):
            return trivial("hello")

    traced = rlhf_otel.trace_llm(model="m", logger=logger)(trivial)
    start_attrs, end_attrs = _decorated_span_shape()

    def our_shape() -> str:
        # The SDK making exactly @trace_llm's span: same name, kind, attributes at start and
        # at end, through the stock processor: the cost of the span shape itself.
        with tracer.start_as_current_span(
            "chat m", kind=SpanKind.CLIENT, attributes=start_attrs
        ) as span:
            result = trivial("hello")
            span.set_attributes(end_attrs)
            return result

    cases: dict[str, Any] = {
        "plain": lambda: trivial("hello"),
        "bare": bare_span,
        "shape": our_shape,
        "ours": lambda: traced("hello"),
    }
    wall: dict[str, list[float]] = {k: [] for k in cases}
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    for fn in cases.values():
        per_call_us(fn, n // 10, repeats=1)  # warm up
    for _ in range(rounds):  # interleaved: a busy machine slows every case alike
        for name, fn in cases.items():
            gc.collect()
            started, cpu0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                fn()
            wall[name].append((time.perf_counter() - started) / n * 1e6)
            cpu[name].append((time.process_time() - cpu0) / n * 1e6)
        stock_spans.clear()
        logger.store.clear()  # type: ignore[attr-defined]
    logger.flush()
    delivery = logger.delivery()
    logger.close()
    provider.shutdown()
    stock.shutdown()
    w = {k: statistics.median(v) for k, v in wall.items()}
    c = {k: statistics.median(v) for k, v in cpu.items()}
    rows = [
        ("plain function", f"{w['plain']:.2f}", f"{c['plain']:.2f}", "-", "-"),
        ("bare span, stock BatchSpanProcessor (baseline)", f"{w['bare']:.2f}",
         f"{c['bare']:.2f}", "1.00x / 1.00x", "-"),
        ("SDK making our span shape, stock BatchSpanProcessor", f"{w['shape']:.2f}",
         f"{c['shape']:.2f}", f"{w['shape'] / w['bare']:.2f}x / {c['shape'] / c['bare']:.2f}x",
         "-"),
        (
            "@rlhf_otel.trace_llm",
            f"{w['ours']:.2f}",
            f"{c['ours']:.2f}",
            f"{w['ours'] / w['bare']:.2f}x / {c['ours'] / c['bare']:.2f}x"
            f" ({w['ours'] / w['shape']:.2f}x our shape)",
            f"{sum(delivery['dropped'].values())}",
        ),
    ]  # fmt: skip
    _BARS["decorator"] = w["ours"] / w["shape"]
    if _peers is not None:
        for name, us, dropped in _peers.measure(n):
            if us != us:  # NaN: the peer is not installed or failed
                rows.append((name, "-", "-", "-", dropped))
            else:
                rows.append((name, f"{us:.2f}", "-", f"{us / w['bare']:.2f}x", dropped))
    return rows


_BARS: dict[str, float] = {}


def _decorated_span_shape() -> tuple[dict[str, Any], dict[str, Any]]:
    """The attributes of one @trace_llm span: those set at its start, and the rest."""
    provider = TracerProvider()
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    logger = rlhf_otel.create_rlhf_logger(
        store=MemoryStore(max_entries=None), tracer_provider=provider
    )
    rlhf_otel.trace_llm(model="m", logger=logger)(lambda prompt: "ok")("hello")
    logger.close()
    (span,) = spans.get_finished_spans()
    provider.shutdown()
    attrs = dict(span.attributes or {})
    at_start = ("gen_ai.operation.name", "gen_ai.provider.name", "rlhf.record.kind",
                "rlhf.record.queue", "gen_ai.request.model")  # fmt: skip
    start = {k: attrs.pop(k) for k in at_start if k in attrs}
    return start, attrs


def _span_shapes() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The attributes of one interaction span, one rating span and its link, as logged."""
    provider = TracerProvider()
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    logger = rlhf_otel.create_rlhf_logger(
        store=MemoryStore(max_entries=None), tracer_provider=provider
    )
    iid = logger.log_interaction(*_EXCHANGE, **_OPTIONS)  # type: ignore[arg-type]
    logger.log_rating(iid, 3)
    logger.close()
    interaction, feedback = spans.get_finished_spans()
    link_attrs = dict(feedback.links[0].attributes or {})
    provider.shutdown()
    return dict(interaction.attributes or {}), dict(feedback.attributes or {}), link_attrs


_EXCHANGE = ("What is the capital of France?", "Paris.")
_OPTIONS: dict[str, Any] = {
    "model": "m",
    "latency": 120.0,
    "token_usage": {"prompt": 7, "completion": 2},
}


def _logger_rows(n: int, rounds: int) -> list[tuple[str, ...]]:
    provider = TracerProvider()
    store = MemoryStore(max_entries=None)
    logger = rlhf_otel.create_rlhf_logger(store=store, tracer_provider=provider)
    tracer = provider.get_tracer("bench")
    # The SDK alone: spans of exactly our shapes on a provider with no processor at all.
    bare_tracer = TracerProvider().get_tracer("bench")
    i_attrs, f_attrs, l_attrs = _span_shapes()

    def bare_spans() -> None:  # baseline: one gen_ai attribute, same processor and store
        for _ in range(n):
            with tracer.start_as_current_span(
                "chat m", attributes={"gen_ai.operation.name": "chat"}
            ):
                pass
        logger.flush()

    def sdk_floor() -> None:
        for _ in range(n // 2):
            span = bare_tracer.start_span(
                "chat m", kind=SpanKind.CLIENT, attributes=i_attrs, start_time=time.time_ns()
            )
            span.end()
            bare_tracer.start_span(
                "feedback rating",
                attributes=f_attrs,
                links=[Link(span.get_span_context(), l_attrs)],
            ).end()

    def ours() -> None:
        for k in range(n // 2):
            iid = logger.log_interaction(*_EXCHANGE, **_OPTIONS)
            logger.log_rating(iid, 1 + k % 5)
        if not logger.flush():
            raise RuntimeError("flush did not finish")

    cases = {"bare": bare_spans, "floor": sdk_floor, "ours": ours}
    rate: dict[str, list[float]] = {k: [] for k in cases}
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(rounds):  # interleaved: a busy machine slows every case alike
        for name, fn in cases.items():
            store.clear()
            gc.collect()
            wall, cpu0 = time.perf_counter(), time.process_time()
            fn()
            cpu[name].append((time.process_time() - cpu0) / n * 1e6)
            rate[name].append(n / (time.perf_counter() - wall))
    stored = len(store)
    delivery = logger.delivery()
    logger.close()
    provider.shutdown()
    r = {k: statistics.median(v) for k, v in rate.items()}
    c = {k: statistics.median(v) for k, v in cpu.items()}
    _BARS["logger"] = r["ours"] / r["floor"]
    return [
        (
            "bare spans -> memory store (baseline)",
            f"{r['bare']:,.0f}",
            f"{c['bare']:.1f}",
            "1.00x",
            "-",
            "-",
        ),
        (
            "SDK alone: our span shapes, no processor",
            f"{r['floor']:,.0f}",
            f"{c['floor']:.1f}",
            f"{r['floor'] / r['bare']:.2f}x",
            "-",
            "-",
        ),
        (
            "log_interaction + log_rating",
            f"{r['ours']:,.0f}",
            f"{c['ours']:.1f}",
            f"{r['ours'] / r['bare']:.2f}x ({r['ours'] / r['floor']:.2f}x the SDK floor)",
            f"{stored:,}",
            f"{sum(delivery['dropped'].values())}",
        ),
    ]


def main(quick: bool = False) -> None:
    n = 2_000 if quick else 50_000
    rounds = 1 if quick else 3
    print(
        table(
            _decorator_rows(n),
            (
                "decorator on a trivial function",
                "wall us/call",
                "CPU us/call",
                "vs baseline (wall / CPU)",
                "dropped",
            ),
        )
    )
    print()
    print(
        table(
            _logger_rows(n, rounds),
            (
                "logger into the memory store",
                "records/s",
                "CPU us/record",
                "vs baseline",
                "stored (last round)",
                "dropped",
            ),
        )
    )
    print()
    for bar, value, goal, met in (
        ("@trace_llm / SDK making our span shape", _BARS["decorator"], "<= 1.20x",
         _BARS["decorator"] <= 1.2),
        ("logger / SDK floor", _BARS["logger"], ">= 0.60x", _BARS["logger"] >= 0.6),
    ):  # fmt: skip
        print(f"bar: {bar} = {value:.2f}x (goal {goal}: {'met' if met else 'NOT met'})")


if __name__ == "__main__":
    main()
