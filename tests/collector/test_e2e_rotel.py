"""End to end: app -> OTLP -> rotel -> ``rlhf-otel collect`` -> store."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from rlhf_otel import RLHFLogger, create_rlhf_logger
from rlhf_otel.pipeline import build_otlp_exporter
from rlhf_otel.receiver import OTLPReceiver, ReceiverConfig
from rlhf_otel.stores import MemoryStore
from tests.collector._app import direct_provider, log_workload, stored_records
from tests.collector.conftest import wait_for
from tests.servers.rotel import run_rotel


def _log_everything(logger: RLHFLogger) -> None:
    ids = [
        logger.log_interaction(
            f"question {n}: what is {n} squared?",
            f"{n * n}, with a unicode flourish: é✓",
            model="gpt-test",
            provider="openai",
            model_params={"temperature": 0.2, "max_tokens": 64, "seed": n},
            latency=0.0125 + n,
            token_usage={"prompt": 10 + n, "completion": 5, "total": 15 + n},
            user_id=f"user-{n % 3}",
            session_id="session-1",
            context=[{"role": "system", "content": "be brief"}],
            metadata={"n": n, "tags": ["a", "b"]},
        )
        for n in range(4)
    ]
    logger.log_binary_feedback(ids[0], "thumbs_up", user_id="user-0", source="web")
    logger.log_rating(ids[0], 4, "good, not great", max_rating=5)
    logger.log_text_feedback(ids[1], "too long", "negative", metadata={"page": 2})
    logger.log_multi_dimensional_feedback(
        ids[1],
        {"accuracy": 0.9, "tone": 0.5},
        weights={"accuracy": 2.0, "tone": 1.0},
        overall_comment="ok",
    )
    logger.log_comparative_feedback(
        ids[2], [ids[0], ids[3]], reason="shorter", confidence_level=0.75
    )


def test_store_behind_rotel_holds_what_the_logger_store_holds(tmp_path: Path) -> None:
    """A logger with otlp_endpoint -> rotel -> collect: every record equal to the logger's own."""
    received = MemoryStore(max_entries=None)
    token = "s3cret-token"
    with OTLPReceiver(received, ReceiverConfig(port=0, token=token)) as rx:
        base = rx.endpoint.removesuffix("/v1/traces")
        with run_rotel("forward", base, tmp_path, env={"RLHF_OTEL_COLLECT_TOKEN": token}) as rotel:
            logger = create_rlhf_logger(
                backend="memory",
                memory_max_entries=None,
                tracer_provider=TracerProvider(),
                otlp_endpoint=f"http://127.0.0.1:{rotel.http_port}",
            )
            _log_everything(logger)
            assert logger.flush()
            direct = logger.store
            logger.close()
            wait_for(lambda: len(received) == 9)
        stats = rx.stats()

    want_interactions, want_feedback = stored_records(direct)
    got_interactions, got_feedback = stored_records(received)
    assert len(want_interactions) == 4
    assert sorted(fb["type"] for fb in want_feedback) == [
        "binary",
        "comparative",
        "multi_dimensional",
        "rating",
        "text",
    ]
    assert got_interactions == want_interactions
    assert got_feedback == want_feedback
    assert (stats.spans_rejected, stats.spans_ignored) == (0, 0)
    assert stats.responses.get(401, 0) == 0


def test_workload_behind_rotel_equals_the_direct_store(tmp_path: Path) -> None:
    """Feedback events, GenAI spans of other libraries and ordinary spans pass rotel intact."""
    direct, received = MemoryStore(max_entries=None), MemoryStore(max_entries=None)
    with OTLPReceiver(received, ReceiverConfig(port=0)) as rx:
        base = rx.endpoint.removesuffix("/v1/traces")
        with run_rotel("forward", base, tmp_path) as rotel:
            provider = direct_provider(direct)
            provider.add_span_processor(
                SimpleSpanProcessor(build_otlp_exporter(f"http://127.0.0.1:{rotel.http_port}"))
            )
            log_workload(provider.get_tracer("app"))
            provider.shutdown()
            wait_for(lambda: len(received) == len(direct))
        stats = rx.stats()

    assert stored_records(received) == stored_records(direct)
    assert (len(list(direct.scan_interactions())), len(list(direct.scan_feedback()))) == (6, 6)
    assert (stats.spans_ignored, stats.spans_rejected) == (3, 0)


def test_feedback_links_resolve_after_the_collector(tmp_path: Path) -> None:
    """Every feedback target (comparative ones too) is a stored interaction with its span ids."""
    direct, received = MemoryStore(max_entries=None), MemoryStore(max_entries=None)
    with OTLPReceiver(received, ReceiverConfig(port=0)) as rx:
        base = rx.endpoint.removesuffix("/v1/traces")
        with run_rotel("forward", base, tmp_path) as rotel:
            provider = direct_provider(direct)
            provider.add_span_processor(SimpleSpanProcessor(build_otlp_exporter(rotel.endpoint)))
            log_workload(provider.get_tracer("app"))
            provider.shutdown()
            wait_for(lambda: len(received) == len(direct))

    compare = received.get_feedback("fb-compare")
    assert compare is not None
    assert len(compare.target_ids) == 3
    assert compare.data["preferred_response_id"] == compare.target_ids[0]
    for fb in received.scan_feedback():
        for target in fb.target_ids:
            it = received.get_interaction(target)
            assert it is not None
            assert f"{it.trace_id}-{it.span_id}" == target
