"""Routing through two real rotel instances: feedback traces one way, ordinary spans another."""

from __future__ import annotations

import ast
from pathlib import Path

from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from rlhf_otel import attributes as A
from rlhf_otel.pipeline import build_otlp_exporter
from rlhf_otel.receiver import OTLPReceiver, ReceiverConfig
from rlhf_otel.recording import FEEDBACK_EVENT_NAMES, INTERACTION_OPERATIONS
from rlhf_otel.stores import MemoryStore
from tests.collector._app import direct_provider, log_workload, stored_records
from tests.collector.conftest import wait_for
from tests.servers.rotel import ROTEL_DIR, run_rotel


def test_feedback_and_ordinary_spans_reach_different_receivers(tmp_path: Path) -> None:
    """rlhf-only rotel delivers every record and no ordinary span; ordinary-only the reverse."""
    direct = MemoryStore(max_entries=None)
    feedback_store, ordinary_store = MemoryStore(max_entries=None), MemoryStore(max_entries=None)
    with (
        OTLPReceiver(feedback_store, ReceiverConfig(port=0)) as feedback_rx,
        OTLPReceiver(ordinary_store, ReceiverConfig(port=0)) as ordinary_rx,
        run_rotel("rlhf-only", feedback_rx.endpoint.removesuffix("/v1/traces"), tmp_path) as r1,
        run_rotel("ordinary-only", ordinary_rx.endpoint.removesuffix("/v1/traces"), tmp_path) as r2,
    ):
        provider = direct_provider(direct)
        provider.add_span_processor(SimpleSpanProcessor(build_otlp_exporter(r1.endpoint)))
        provider.add_span_processor(SimpleSpanProcessor(build_otlp_exporter(r2.endpoint)))
        log_workload(provider.get_tracer("app"))
        provider.shutdown()
        wait_for(lambda: len(feedback_store) == len(direct))
        wait_for(lambda: ordinary_rx.stats().spans_received == 3)
        feedback_stats, ordinary_stats = feedback_rx.stats(), ordinary_rx.stats()

    assert stored_records(feedback_store) == stored_records(direct)
    assert feedback_stats.spans_received == 11
    assert feedback_stats.spans_ignored == 0
    assert ordinary_stats.spans_received == 3
    assert ordinary_stats.spans_ignored == 3
    assert len(ordinary_store) == 0


def test_rotel_processor_names_match_the_sdk() -> None:
    """The standalone rotel processor tests the same attribute names the SDK writes."""
    source = (ROTEL_DIR / "processors" / "rlhf_route.py").read_text()
    constants = {
        node.targets[0].id: node.value
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    operations = constants["INTERACTION_OPERATIONS"]
    assert isinstance(operations, ast.Call)
    assert ast.literal_eval(constants["RECORD_KIND"]) == A.RLHF_RECORD_KIND
    assert ast.literal_eval(constants["OPERATION_NAME"]) == A.GEN_AI_OPERATION_NAME
    assert frozenset(ast.literal_eval(constants["FEEDBACK_EVENTS"])) == FEEDBACK_EVENT_NAMES
    assert frozenset(ast.literal_eval(operations.args[0])) == INTERACTION_OPERATIONS
