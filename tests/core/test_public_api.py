"""The public surface: sorted, complete, importable, and import has no side effects."""

from __future__ import annotations

import subprocess
import sys

import rlhf_otel
from rlhf_otel import attributes


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and every name in it exists."""
    assert rlhf_otel.__all__ == sorted(rlhf_otel.__all__)
    for name in rlhf_otel.__all__:
        assert hasattr(rlhf_otel, name), name


def test_public_names_are_exported() -> None:
    """Every public (non-underscore, non-module) attribute of the package is in __all__."""
    public = {
        n
        for n, v in vars(rlhf_otel).items()
        if not n.startswith("_") and not isinstance(v, type(sys)) and n not in {"annotations"}
    }
    assert public == set(rlhf_otel.__all__)


def test_import_sets_no_global_provider_and_no_handlers() -> None:
    """Importing the package sets no tracer provider, adds no log handler and starts no thread."""
    code = (
        "import threading, logging\n"
        "from opentelemetry import trace\n"
        "import rlhf_otel, rlhf_otel.stores\n"
        "print(type(trace.get_tracer_provider()).__name__, threading.active_count(),"
        " len(logging.getLogger('rlhf_otel').handlers), len(logging.getLogger().handlers))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ProxyTracerProvider", "1", "0", "0"]


def test_attribute_names_are_frozen() -> None:
    """The attribute names we write are exactly this list (changing one is a schema change)."""
    assert attributes.ALL_ATTRIBUTES == (
        "error.type",
        "gen_ai.evaluation.explanation",
        "gen_ai.evaluation.name",
        "gen_ai.evaluation.score.label",
        "gen_ai.evaluation.score.value",
        "gen_ai.input.messages",
        "gen_ai.operation.name",
        "gen_ai.output.messages",
        "gen_ai.provider.name",
        "gen_ai.request.max_tokens",
        "gen_ai.request.model",
        "gen_ai.request.temperature",
        "gen_ai.request.top_p",
        "gen_ai.response.finish_reasons",
        "gen_ai.response.id",
        "gen_ai.response.model",
        "gen_ai.response.time_to_first_chunk",
        "gen_ai.system",
        "gen_ai.system_instructions",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "rlhf.feedback.comment",
        "rlhf.feedback.compared_ids",
        "rlhf.feedback.confidence",
        "rlhf.feedback.correction",
        "rlhf.feedback.dimensions",
        "rlhf.feedback.evaluator.id",
        "rlhf.feedback.evaluator.type",
        "rlhf.feedback.id",
        "rlhf.feedback.max_rating",
        "rlhf.feedback.min_rating",
        "rlhf.feedback.outcome",
        "rlhf.feedback.preferred_id",
        "rlhf.feedback.rating",
        "rlhf.feedback.reason",
        "rlhf.feedback.sentiment",
        "rlhf.feedback.source",
        "rlhf.feedback.supersedes",
        "rlhf.feedback.target_ids",
        "rlhf.feedback.type",
        "rlhf.feedback.value",
        "rlhf.feedback.weights",
        "rlhf.interaction.id",
        "rlhf.latency_ms",
        "rlhf.link.role",
        "rlhf.metadata",
        "rlhf.model_params",
        "rlhf.record.kind",
        "rlhf.record.queue",
        "rlhf.time_to_first_token_ms",
        "rlhf.usage.total_tokens",
        "session.id",
        "user.id",
    )
