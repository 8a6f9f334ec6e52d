"""Interactions and feedback as spans: names, kinds, attributes, links, round trips."""

from __future__ import annotations

import json

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from rlhf_otel import BinaryFeedback, FeedbackType, RLHFLogger, TokenUsage
from rlhf_otel.records import parse_span_id
from rlhf_otel.stores import MemoryStore


def _log_one(logger: RLHFLogger) -> str:
    return logger.log_interaction(
        "What is the capital of France?",
        "The capital of France is Paris.",
        model="gpt-4",
        provider="openai",
        model_params={"temperature": 0.7, "max_tokens": 64, "top_p": 0.9, "seed": 7},
        latency=250,
        token_usage={"prompt": 10, "completion": 15, "total": 25},
        user_id="u1",
        context=[{"role": "system", "content": "Be brief."}],
        metadata={"app": "geo"},
        response_id="resp-1",
        finish_reasons=["stop"],
    )


def test_interaction_span_name_kind_and_attributes(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """An interaction is one CLIENT span 'chat {model}' with the GenAI and rlhf attributes."""
    iid = _log_one(logger)
    logger.flush()
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "chat gpt-4"
    assert span.kind is SpanKind.CLIENT
    attrs = dict(span.attributes or {})
    session_id = attrs.pop("session.id")
    assert isinstance(session_id, str)
    assert json.loads(str(attrs.pop("gen_ai.input.messages"))) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]},
    ]
    assert json.loads(str(attrs.pop("gen_ai.output.messages"))) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "The capital of France is Paris."}],
            "finish_reason": "stop",
        }
    ]
    assert attrs == {
        "gen_ai.operation.name": "chat",
        "rlhf.record.kind": "interaction",
        "rlhf.record.queue": logger.queue.token,
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4",
        "gen_ai.request.temperature": 0.7,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.top_p": 0.9,
        "rlhf.model_params": '{"seed":7}',
        "rlhf.latency_ms": 250.0,
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 15,
        "rlhf.usage.total_tokens": 25,
        "user.id": "u1",
        "rlhf.metadata": '{"app":"geo"}',
        "gen_ai.response.id": "resp-1",
        "gen_ai.response.finish_reasons": ("stop",),
        "rlhf.interaction.id": iid,
    }
    assert span.end_time is not None
    assert span.start_time is not None
    assert span.end_time - span.start_time == 250_000_000


def test_interaction_id_is_the_span_context(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """The default interaction id encodes the span's trace id and span id."""
    iid = _log_one(logger)
    logger.flush()
    (span,) = span_exporter.get_finished_spans()
    assert parse_span_id(iid) == (span.context.trace_id, span.context.span_id)


def test_interaction_round_trips_to_the_store(logger: RLHFLogger) -> None:
    """Every field of log_interaction comes back from the store."""
    iid = _log_one(logger)
    it = logger.get_interaction(iid)
    assert it is not None
    assert (it.prompt, it.response, it.model, it.provider) == (
        "What is the capital of France?",
        "The capital of France is Paris.",
        "gpt-4",
        "openai",
    )
    assert it.model_params == {"temperature": 0.7, "max_tokens": 64, "top_p": 0.9, "seed": 7}
    assert it.latency_ms == 250.0
    assert it.token_usage == TokenUsage(10, 15, 25)
    assert it.user_id == "u1"
    assert list(it.context) == [{"role": "system", "content": "Be brief."}]
    assert it.metadata == {"app": "geo"}
    assert (it.response_id, tuple(it.finish_reasons)) == ("resp-1", ("stop",))
    session = logger.get_current_session()
    assert session is not None
    assert it.session_id == session.id


def test_feedback_span_links_to_interaction(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """A feedback span is INTERNAL 'feedback {type}' linked to the interaction's span context."""
    iid = _log_one(logger)
    fid = logger.log_rating(iid, 4, "Great response!", user_id="u2", source="web")
    logger.flush()
    interaction_span, feedback_span = span_exporter.get_finished_spans()
    assert feedback_span.name == "feedback rating"
    assert feedback_span.kind is SpanKind.INTERNAL
    (link,) = feedback_span.links
    assert link.context.trace_id == interaction_span.context.trace_id
    assert link.context.span_id == interaction_span.context.span_id
    assert dict(link.attributes or {}) == {"rlhf.link.role": "target", "rlhf.interaction.id": iid}
    attrs = dict(feedback_span.attributes or {})
    attrs.pop("session.id")
    assert attrs == {
        "rlhf.record.kind": "feedback",
        "rlhf.record.queue": logger.queue.token,
        "rlhf.feedback.id": fid,
        "rlhf.feedback.type": "rating",
        "rlhf.interaction.id": iid,
        "rlhf.feedback.rating": 4.0,
        "rlhf.feedback.max_rating": 5.0,
        "rlhf.feedback.comment": "Great response!",
        "user.id": "u2",
        "rlhf.feedback.source": "web",
        "gen_ai.evaluation.name": "rlhf.rating",
        "gen_ai.evaluation.score.value": 4.0,
        "gen_ai.evaluation.score.label": "4/5",
        "gen_ai.evaluation.explanation": "Great response!",
        "rlhf.feedback.evaluator.type": "end_user",
        "rlhf.feedback.evaluator.id": "u2",
    }


def test_comparative_links_every_response_with_its_role(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """Comparative feedback links the chosen response and each rejected one."""
    a, b, c = (logger.log_interaction("q", f"answer {n}") for n in range(3))
    logger.log_comparative_feedback(a, [b, c], reason="clearer", confidence_level=0.8)
    logger.flush()
    fb_span = span_exporter.get_finished_spans()[-1]
    assert fb_span.name == "feedback comparative"
    roles = [
        (
            dict(lk.attributes or {})["rlhf.interaction.id"],
            dict(lk.attributes or {})["rlhf.link.role"],
        )
        for lk in fb_span.links
    ]
    assert roles == [(a, "chosen"), (b, "rejected"), (c, "rejected")]


def test_each_feedback_type_round_trips_with_every_field(
    logger: RLHFLogger, store: MemoryStore
) -> None:
    """All five feedback types come back from the store with every field they were given."""
    iid = _log_one(logger)
    other = logger.log_interaction("What is the capital of France?", "Lyon.")
    opts = {"user_id": "rater", "session_id": "s-9", "source": "mobile", "metadata": {"k": 1}}
    ids = {
        FeedbackType.BINARY: logger.log_binary_feedback(iid, BinaryFeedback.THUMBS_DOWN, **opts),
        FeedbackType.RATING: logger.log_rating(iid, 8, "ok", max_rating=10, **opts),
        FeedbackType.TEXT: logger.log_text_feedback(iid, "Too short", "negative", **opts),
        FeedbackType.MULTI_DIMENSIONAL: logger.log_multi_dimensional_feedback(
            iid,
            {"accuracy": 5, "helpfulness": 3.5},
            weights={"accuracy": 2, "helpfulness": 1},
            overall_comment="Good overall",
            **opts,
        ),
        FeedbackType.COMPARATIVE: logger.log_comparative_feedback(
            iid, [other], reason="correct", confidence_level=0.9, **opts
        ),
    }
    expected_data = {
        FeedbackType.BINARY: {"value": "thumbs_down"},
        FeedbackType.RATING: {"rating": 8, "min_rating": 1, "max_rating": 10, "comment": "ok"},
        FeedbackType.TEXT: {"comment": "Too short", "sentiment": "negative"},
        FeedbackType.MULTI_DIMENSIONAL: {
            "dimensions": {"accuracy": 5, "helpfulness": 3.5},
            "weights": {"accuracy": 2, "helpfulness": 1},
            "overall_comment": "Good overall",
        },
        FeedbackType.COMPARATIVE: {
            "preferred_response_id": iid,
            "compared_response_ids": [other],
            "reason": "correct",
            "confidence_level": 0.9,
        },
    }
    for ftype, fid in ids.items():
        fb = logger.get_feedback(fid)
        assert fb is not None
        assert fb.type is ftype
        assert fb.interaction_id == iid
        assert dict(fb.data) == expected_data[ftype]
        assert (fb.user_id, fb.session_id, fb.source, dict(fb.metadata)) == (
            "rater",
            "s-9",
            "mobile",
            {"k": 1},
        )
    comparative = logger.get_feedback(ids[FeedbackType.COMPARATIVE])
    assert comparative is not None
    assert tuple(comparative.target_ids) == (iid, other)
    assert [f.id for f in logger.get_feedback_for_interaction(other)] == [
        ids[FeedbackType.COMPARATIVE]
    ]
    got = logger.get_interaction(iid)
    assert got is not None
    assert set(got.feedback_ids) == set(ids.values())


def test_openai_shaped_tool_calls_survive(logger: RLHFLogger) -> None:
    """An OpenAI tool call in the context keeps its id, name and arguments."""
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
    }
    iid = logger.log_interaction(
        "And tomorrow?",
        "Sunny.",
        context=[
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "content": "18C", "tool_call_id": "call_1"},
        ],
    )
    it = logger.get_interaction(iid)
    assert it is not None
    assert list(it.context) == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_1", "name": "weather", "arguments": '{"city":"Paris"}'}],
        },
        {"role": "tool", "content": "18C", "tool_call_id": "call_1"},
    ]


def test_hand_assembled_messages_equal_json_dumps(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """Quotes, backslashes, control characters and non-ASCII text encode exactly as json.dumps."""
    tricky = 'say "hi"\\n\n\t\x00 é 😀 </script>'
    logger.log_interaction(tricky, tricky, finish_reasons=['st"op'])
    logger.flush()
    (span,) = span_exporter.get_finished_spans()
    attrs = span.attributes or {}
    assert attrs["gen_ai.input.messages"] == json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": tricky}]}],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    assert attrs["gen_ai.output.messages"] == json.dumps(
        [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": tricky}],
                "finish_reason": 'st"op',
            }
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
