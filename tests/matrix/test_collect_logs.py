"""``rlhf-otel collect`` with logs: an app on OpenTelemetry's openai-v2 in EVENT_ONLY mode
(content only in log records) exporting spans and logs over OTLP gives complete records,
whether the logs arrive before or after the spans; a span whose logs never come is stored
as it is and the give-up is counted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rlhf_otel.receiver import OTLPReceiver, ReceiverConfig
from rlhf_otel.stores import JsonlStore
from tests.collector._bodies import post
from tests.matrix.test_matrix import check_feedback, check_records, run_app
from tests.servers.openai_server import OpenAIServer


def _wait_for(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("first", ["logs", "spans"])
def test_event_only_app_over_otlp_gives_complete_records(first: str, tmp_path: Path) -> None:
    """Spans without content and their log records, in either order, join into records."""
    # The signal that goes first is exported while the app runs; the other at its exit.
    fast, slow = ("OTEL_BLRP_SCHEDULE_DELAY", "OTEL_BSP_SCHEDULE_DELAY")
    if first == "spans":
        fast, slow = slow, fast
    store = JsonlStore(tmp_path / "data")
    config = ReceiverConfig(port=0, wait_for_logs=True)
    with OpenAIServer(slow_seconds=0.1) as server, OTLPReceiver(store, config) as rx:
        host, port = rx.address
        seen = run_app(
            "openai-v2",
            "openai",
            "EVENT_ONLY",
            server.base_url,
            tmp_path,
            "--export",
            "otlp",
            "--endpoint",
            f"http://{host}:{port}",
            env_extra={fast: "10", slow: "60000"},
        )
        _wait_for(lambda: rx.stats().interactions_stored == 4 and rx.stats().feedback_stored == 3)
        stats = rx.stats()
    store.close()
    assert stats.log_records_received >= 4
    assert stats.foreign_waits == {}
    with JsonlStore(tmp_path / "data") as reread:
        check_records("openai-v2", "openai", seen, list(reread.scan_interactions()))
    check_feedback(seen, tmp_path / "data")


def test_missing_logs_are_counted_and_the_span_kept(tmp_path: Path) -> None:
    """A content-less model-call span whose logs never come is stored after the wait, and
    the give-up shows in the stats."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("opentelemetry.instrumentation.openai_v2").start_as_current_span(
        "chat gpt-4o-mini"
    ) as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 3,
                "gen_ai.usage.output_tokens": 2,
            }
        )
    body = bytes(encode_spans(exporter.get_finished_spans()).SerializeToString())
    store = JsonlStore(tmp_path / "data")
    config = ReceiverConfig(port=0, wait_for_logs=True, log_wait=0.2)
    with OTLPReceiver(store, config) as rx:
        assert post(rx.endpoint, body).status_code == 200
        _wait_for(lambda: rx.stats().interactions_stored == 1)
        stats = rx.stats()
    store.close()
    assert stats.foreign_waits == {"content_logs_missing": 1}
    with JsonlStore(tmp_path / "data") as reread:
        (it,) = reread.scan_interactions()
    assert (it.prompt, it.response, it.model) == ("", "", "gpt-4o-mini")
