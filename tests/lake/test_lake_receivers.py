"""Several services, several rlhf-otel receivers, one Parquet lake read by DuckDB."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import create_rlhf_logger
from rlhf_otel.cli import main
from rlhf_otel.export import export_feedback
from rlhf_otel.receiver import OTLPReceiver, ReceiverConfig
from rlhf_otel.records import compute_stats
from rlhf_otel.stores import JsonlStore, MemoryStore
from tests.collector.conftest import wait_for

RATED = (
    "SELECT count(DISTINCT i.id) AS n FROM interactions AS i JOIN (SELECT unnest("
    "list_prepend(interaction_id, target_ids)) AS id FROM feedback) AS t ON t.id = i.id"
)


def _sql(lake: Path, query: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    assert main(["sql", "--json", "--lake", str(lake), query]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_two_receivers_append_to_one_lake_with_the_union_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Feedback sent to another receiver than its interaction still meets it in the lake."""
    refs = [MemoryStore(max_entries=None), MemoryStore(max_entries=None)]
    with contextlib.ExitStack() as stack:
        stores = [
            stack.enter_context(JsonlStore(tmp_path / f"rx{k}", fsync="none")) for k in range(2)
        ]
        receivers = [stack.enter_context(OTLPReceiver(s, ReceiverConfig(port=0))) for s in stores]
        providers = [TracerProvider(), TracerProvider()]
        loggers = [
            create_rlhf_logger(store=ref, tracer_provider=p, otlp_endpoint=rx.endpoint)
            for ref, p, rx in zip(refs, providers, receivers, strict=True)
        ]
        chat, review = loggers
        ids = [
            chat.log_interaction(f"q{p}", f"a{p}{m}", model=m, user_id=f"u{p % 3}")
            for p in range(8)
            for m in ("small", "large")
        ]
        own = review.log_interaction("q9", "a9", model="large")
        for k, iid in enumerate(ids[:10]):
            review.log_rating(iid, 1 + k % 5, user_id="r1", source="review")
            review.log_binary_feedback(iid, k % 3 != 0, user_id="r2", source="review")
        review.log_comparative_feedback(ids[0], [ids[1]], confidence_level=0.9, user_id="r1")
        chat.log_text_feedback(ids[2], "too slow", "negative", user_id="u2")
        review.log_binary_feedback(own, True, user_id="r3")
        for lg in loggers:
            assert lg.flush()
            lg.close()
        for p in providers:
            p.shutdown()
        expected = [len(list(r.scan_interactions())) + len(list(r.scan_feedback())) for r in refs]
        assert expected == [17, 23]

        def stored(k: int) -> int:
            s = stores[k]
            return len(list(s.scan_interactions())) + len(list(s.scan_feedback()))

        wait_for(lambda: [stored(0), stored(1)] == expected)
        lake = tmp_path / "lake"
        reports = [export_feedback(s, "parquet-lake", out=lake) for s in stores]
    assert [r.rows for r in reports] == [17, 23]
    union = MemoryStore(max_entries=None)
    for r in refs:
        union.write(list(r.scan_interactions()), list(r.scan_feedback()))
    stats = compute_stats(union)
    assert (stats.total_interactions, stats.total_feedback) == (17, 23)
    assert _sql(lake, "SELECT count(*) AS n FROM interactions", capsys) == [{"n": 17}]
    by_type = "SELECT type, count(*) AS n FROM feedback GROUP BY type ORDER BY type"
    assert _sql(lake, by_type, capsys) == [
        {"type": t, "n": n} for t, n in sorted(stats.by_type.items())
    ]
    assert _sql(lake, RATED, capsys) == [{"n": stats.interactions_with_feedback}]
    assert stats.interactions_with_feedback == 11
