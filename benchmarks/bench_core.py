"""Core benchmarks: @trace_llm overhead vs a bare span, and logger throughput.

Every figure is printed next to its baseline from the same run:
- decorator: microseconds per call of a trivial function, bare, inside a bare OTel span
  exported by the SDK's stock ``BatchSpanProcessor`` (the baseline a user compares with),
  inside the SDK making exactly @trace_llm's span shape through that same processor (the
  cost of the shape itself; the bar is @trace_llm <= 1.2x that), under @trace_llm (its
  own queue and memory store), and under the peers' decorators when they are installed
  (``pip install -e '.[bench]'``). Rounds are interleaved and the medians shown; CPU time
  of the whole process (every thread) is shown beside wall time.
- logger: records/s and CPU microseconds per record (all threads) of production-shaped
  logger calls (``_workload.py``: half ``log_interaction`` with 2-4 models per prompt and
  log-normal text sizes, half feedback of all five types by 1,000 users and reviewers,
  several raters on the same answers) into the memory store, with what was stored and
  dropped, next to bare spans through the same processor and store, and to the SDK alone
  creating the spans of exactly those calls with no processor (the SDK floor; the bar is
  the logger >= 0.6x that). The logger runs twice: on a provider where no other processor
  reads its spans (it makes none, ``rlhf_otel/recording/_unseen.py``), and where one does
  (each span made). The cases are interleaved over several rounds and the medians shown;
  the two bars print as ratios at the end.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

from _util import per_call_us, table
from _workload import Call, logger_calls, replay
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
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


def _span_shapes(calls: list[Call]) -> list[tuple[str, SpanKind, dict[str, Any], list[Any]]]:
    """Each call's span as the logger makes it when a processor reads its spans: name, kind,
    attributes and links (the index of the call whose span it links to, its attributes)."""
    provider = TracerProvider()
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    logger = rlhf_otel.create_rlhf_logger(
        store=MemoryStore(max_entries=None), tracer_provider=provider
    )
    replay(logger, calls)
    logger.close()
    provider.shutdown()
    finished = spans.get_finished_spans()
    assert len(finished) == len(calls), (len(finished), len(calls))
    index: dict[int, int] = {}
    shapes = []
    for k, span in enumerate(finished):
        index[span.context.span_id] = k
        links = [(index[link.context.span_id], dict(link.attributes or {})) for link in span.links]
        shapes.append((span.name, span.kind, dict(span.attributes or {}), links))
    return shapes


def _logger_rows(n: int, rounds: int) -> list[tuple[str, ...]]:
    calls = logger_calls(n)
    n = len(calls)
    provider = TracerProvider()
    store = MemoryStore(max_entries=None)
    logger = rlhf_otel.create_rlhf_logger(store=store, tracer_provider=provider)
    # The same logger where another processor reads the spans (a stock one that does
    # nothing), so each record's span is made as well.
    seen_provider = TracerProvider()
    seen_provider.add_span_processor(SpanProcessor())
    seen_store = MemoryStore(max_entries=None)
    seen_logger = rlhf_otel.create_rlhf_logger(store=seen_store, tracer_provider=seen_provider)
    tracer = provider.get_tracer("bench")
    # The SDK alone: spans of exactly our shapes on a provider with no processor at all.
    bare_tracer = TracerProvider().get_tracer("bench")
    shapes = _span_shapes(calls)

    def bare_spans() -> None:  # baseline: one gen_ai attribute, same processor and store
        for _ in range(n):
            with tracer.start_as_current_span(
                "chat m", attributes={"gen_ai.operation.name": "chat"}
            ):
                pass
        logger.flush()

    def sdk_floor() -> None:
        contexts: list[Any] = []
        for name, kind, attrs, links in shapes:
            if links:
                span = bare_tracer.start_span(
                    name,
                    kind=kind,
                    attributes=attrs,
                    links=[Link(contexts[k], link_attrs) for k, link_attrs in links],
                )
            else:
                span = bare_tracer.start_span(
                    name, kind=kind, attributes=attrs, start_time=time.time_ns()
                )
            span.end()
            contexts.append(span.get_span_context())

    def ours() -> None:
        replay(logger, calls)
        if not logger.flush():
            raise RuntimeError("flush did not finish")

    def ours_seen() -> None:
        replay(seen_logger, calls)
        if not seen_logger.flush():
            raise RuntimeError("flush did not finish")

    cases = {"bare": bare_spans, "floor": sdk_floor, "ours": ours, "seen": ours_seen}
    rate: dict[str, list[float]] = {k: [] for k in cases}
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    stored: dict[str, int] = {}
    for _ in range(rounds):  # interleaved: a busy machine slows every case alike
        for name, fn in cases.items():
            store.clear()
            seen_store.clear()
            gc.collect()
            wall, cpu0 = time.perf_counter(), time.process_time()
            fn()
            cpu[name].append((time.process_time() - cpu0) / n * 1e6)
            rate[name].append(n / (time.perf_counter() - wall))
            stored[name] = len(seen_store) if name == "seen" else len(store)
    dropped = {
        key: sum(lg.delivery()["dropped"].values())
        for key, lg in (("ours", logger), ("seen", seen_logger))
    }
    for lg in (logger, seen_logger):
        lg.close()
    provider.shutdown()
    seen_provider.shutdown()
    r = {k: statistics.median(v) for k, v in rate.items()}
    c = {k: statistics.median(v) for k, v in cpu.items()}
    _BARS["logger"] = r["ours"] / r["floor"]
    rows = [
        ("bare spans -> memory store (baseline)", f"{r['bare']:,.0f}", f"{c['bare']:.1f}",
         "1.00x", "-", "-"),
        ("SDK alone: our span shapes, no processor", f"{r['floor']:,.0f}", f"{c['floor']:.1f}",
         f"{r['floor'] / r['bare']:.2f}x", "-", "-"),
    ]  # fmt: skip
    for key, label in (
        ("ours", "the logger's calls (no other span processor)"),
        ("seen", "the same, another processor reads the spans"),
    ):
        rows.append(
            (
                label,
                f"{r[key]:,.0f}",
                f"{c[key]:.1f}",
                f"{r[key] / r['bare']:.2f}x ({r[key] / r['floor']:.2f}x the SDK floor)",
                f"{stored[key]:,}",
                f"{dropped[key]}",
            )
        )
    return rows


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
