"""End to end: app -> OTLP -> rotel -> ``rlhf-otel collect`` -> store."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from rlhf_otel._otlp import build_otlp_exporter
from rlhf_otel._receiver import OTLPReceiver, ReceiverConfig
from rlhf_otel.stores import MemoryStore
from tests.collector._app import direct_provider, log_workload
from tests.collector.conftest import wait_for
from tests.servers.rotel import run_rotel


def _records(store: MemoryStore) -> tuple[list[object], list[object]]:
    return (
        sorted(store.scan_interactions(), key=lambda r: r.id),
        sorted(store.scan_feedback(), key=lambda r: r.id),
    )


def test_store_behind_rotel_holds_what_a_direct_store_holds(tmp_path: Path) -> None:
    """Every interaction and feedback type arrives through rotel, equal record by record."""
    direct, received = MemoryStore(max_entries=None), MemoryStore(max_entries=None)
    token = "s3cret-token"
    with OTLPReceiver(received, ReceiverConfig(port=0, token=token)) as rx:
        base = rx.endpoint.removesuffix("/v1/traces")
        with run_rotel("forward", base, tmp_path, env={"RLHF_OTEL_COLLECT_TOKEN": token}) as rotel:
            provider = direct_provider(direct)
            provider.add_span_processor(
                SimpleSpanProcessor(build_otlp_exporter(f"http://127.0.0.1:{rotel.http_port}"))
            )
            log_workload(provider.get_tracer("app"))
            provider.shutdown()
            wait_for(lambda: len(received) == len(direct))
        stats = rx.stats()

    want_interactions, want_feedback = _records(direct)
    got_interactions, got_feedback = _records(received)
    assert len(want_interactions) == 6
    assert len(want_feedback) == 6
    assert got_interactions == want_interactions
    assert got_feedback == want_feedback
    assert stats.spans_ignored == 3
    assert stats.spans_rejected == 0
    assert stats.responses.get(401, 0) == 0


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
