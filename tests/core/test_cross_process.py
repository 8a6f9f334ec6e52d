"""Feedback given in another process links to the interaction once both reach the same store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import FeedbackType, create_rlhf_logger
from rlhf_otel.records import parse_span_id

ROOT = Path(__file__).resolve().parents[2]


def test_feedback_from_a_process_that_only_knows_the_id(tmp_path: Path) -> None:
    """A subprocess given only the interaction id logs feedback whose span links to it."""
    data_dir = tmp_path / "store"
    provider = TracerProvider()
    with create_rlhf_logger(
        backend="local", data_dir=str(data_dir), tracer_provider=provider
    ) as app:
        iid = app.log_interaction("Is this helpful?", "Yes.", model="m", user_id="u1")
    code = textwrap.dedent(
        f"""
        import sys, json
        import rlhf_otel
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        provider = TracerProvider()
        spans = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        with rlhf_otel.create_rlhf_logger(backend="local", data_dir={str(data_dir)!r},
                                          tracer_provider=provider) as lg:
            fid = lg.log_rating(sys.argv[1], 5, "spot on", user_id="rater")
        (span,) = spans.get_finished_spans()
        (link,) = span.links
        print(json.dumps([fid, link.context.trace_id, link.context.span_id]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code, iid],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    import json

    fid, trace_id, span_id = json.loads(out.stdout)
    assert parse_span_id(iid) == (trace_id, span_id)
    with create_rlhf_logger(
        backend="local", data_dir=str(data_dir), tracer_provider=TracerProvider()
    ) as reader:
        it = reader.get_interaction(iid)
        assert it is not None
        assert tuple(it.feedback_ids) == (fid,)
        (fb,) = reader.get_feedback_for_interaction(iid)
        assert (fb.type, fb.data["rating"], fb.user_id) == (FeedbackType.RATING, 5, "rater")
