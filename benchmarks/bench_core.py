"""Core benchmarks: @trace_llm overhead vs a bare span, and logger throughput.

Every figure is printed next to its baseline from the same run:
- decorator: microseconds per call of a trivial function, bare, inside a bare OTel span
  (same provider, same RLHFSpanProcessor and memory store), under @trace_llm, and under the
  peers' decorators when they are installed (``pip install -e '.[bench]'``).
- logger: records/s of log_interaction + one feedback per interaction into the memory store,
  with what was stored and dropped.
"""

from __future__ import annotations

import time

from _util import per_call_us, table
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

import rlhf_otel
from rlhf_otel.stores import MemoryStore

try:
    import _peers
except ImportError:  # pragma: no cover - optional
    _peers = None  # type: ignore[assignment]


def _decorator_rows(n: int) -> list[tuple[str, ...]]:
    provider = TracerProvider()
    logger = rlhf_otel.create_rlhf_logger(
        store=MemoryStore(max_entries=None), tracer_provider=provider
    )
    tracer = provider.get_tracer("bench")

    def trivial(prompt: str) -> str:
        return "ok"

    def bare_span() -> str:
        with tracer.start_as_current_span(
            "chat m", kind=SpanKind.CLIENT, attributes={"gen_ai.operation.name": "chat"}
        ):
            return trivial("hello")

    traced = rlhf_otel.trace_llm(model="m", logger=logger)(trivial)

    for fn in (bare_span, lambda: traced("hello")):
        per_call_us(fn, n // 10, repeats=1)  # warm up
    bare_us = per_call_us(lambda: trivial("hello"), n)
    span_us = per_call_us(bare_span, n)
    ours_us = per_call_us(lambda: traced("hello"), n)
    logger.flush()
    delivery = logger.delivery()
    logger.close()
    provider.shutdown()
    rows = [
        ("plain function", f"{bare_us:.2f}", f"{bare_us / span_us:.2f}x", "-"),
        ("bare OTel span (baseline)", f"{span_us:.2f}", "1.00x", "-"),
        (
            "@rlhf_otel.trace_llm",
            f"{ours_us:.2f}",
            f"{ours_us / span_us:.2f}x",
            f"{sum(delivery['dropped'].values())}",
        ),
    ]
    if _peers is not None:
        for name, us, dropped in _peers.measure(n):
            if us != us:  # NaN: the peer is not installed or failed
                rows.append((name, "-", "-", dropped))
            else:
                rows.append((name, f"{us:.2f}", f"{us / span_us:.2f}x", dropped))
    return rows


def _logger_rows(n: int) -> list[tuple[str, ...]]:
    provider = TracerProvider()
    store = MemoryStore(max_entries=None)
    logger = rlhf_otel.create_rlhf_logger(store=store, tracer_provider=provider)
    tracer = provider.get_tracer("bench")
    # Baseline: the same number of bare spans through the same processor and store.
    start = time.perf_counter()
    for _ in range(n):
        with tracer.start_as_current_span("chat m", attributes={"gen_ai.operation.name": "chat"}):
            pass
    logger.flush()
    span_rate = n / (time.perf_counter() - start)
    store.clear()
    start = time.perf_counter()
    for k in range(n // 2):
        iid = logger.log_interaction(
            "What is the capital of France?",
            "Paris.",
            model="m",
            latency=120.0,
            token_usage={"prompt": 7, "completion": 2},
        )
        logger.log_rating(iid, 1 + k % 5)
    ok = logger.flush()
    rate = n / (time.perf_counter() - start)
    delivery = logger.delivery()
    logger.close()
    provider.shutdown()
    return [
        ("bare spans -> memory store (baseline)", f"{span_rate:,.0f}", "1.00x", "-", "-"),
        (
            "log_interaction + log_rating",
            f"{rate:,.0f}",
            f"{rate / span_rate:.2f}x",
            f"{delivery['stored']:,}",
            f"{sum(delivery['dropped'].values())} (flush ok={ok})",
        ),
    ]


def main(quick: bool = False) -> None:
    n = 2_000 if quick else 50_000
    print(
        table(
            _decorator_rows(n),
            ("decorator on a trivial function", "us/call", "vs bare span", "dropped"),
        )
    )
    print()
    print(
        table(
            _logger_rows(n),
            ("logger into the memory store", "records/s", "vs baseline", "stored", "dropped"),
        )
    )


if __name__ == "__main__":
    main()
