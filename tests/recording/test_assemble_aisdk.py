"""Real AI SDK traces (ai 5, 6, 7) through the dialects and the trace assembler, batch by
batch as the Node SDK exported them: one interaction per answer, the outer span's id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from rlhf_otel import Feedback, FeedbackType
from rlhf_otel.recording import Assembled, TraceAssembler, decode_span, is_foreign
from rlhf_otel.records import Interaction
from tests.recording.ai_sdk_fixtures import (
    FLAVOURS,
    RecordedSpan,
    interaction_id,
    load,
    replay,
    spans,
)
from tests.servers.openai_server import OpenAIServer

SYSTEM = "You are a helpful assistant. Use the weather tool for questions about the weather."


@pytest.fixture(scope="module")
def model_server() -> Iterator[OpenAIServer]:
    """The OpenAI-compatible test server the fixtures were recorded against."""
    with OpenAIServer() as server:
        yield server


def _decode(span: Any, joined: Any) -> tuple[Interaction | None, str | None]:
    found = decode_span(span, joined=joined)
    return found.interaction, found.kind


def _feed(assembler: TraceAssembler, batch: list[RecordedSpan]) -> Assembled:
    return assembler.spans((s.received(), is_foreign(s.received())) for s in batch)


def _batches(fixture: dict[str, Any]) -> list[list[RecordedSpan]]:
    """The spans of each OTLP body, in the order the body lists them (end order)."""
    by_id = {s.span_id: s for s in spans(fixture)}
    return [
        [
            by_id[s["spanId"]]
            for rs in body["resourceSpans"]
            for ss in rs["scopeSpans"]
            for s in ss["spans"]
        ]
        for body in fixture["otlp_json"]
    ]


def _assembled(flavour: str) -> tuple[dict[str, Any], dict[str, Interaction], TraceAssembler]:
    fixture = load(flavour)
    assembler = TraceAssembler(_decode)
    out = Assembled()
    for batch in _batches(fixture):
        out.extend(_feed(assembler, batch))
    assert assembler.pending == 0  # every trace settled when its batch came in
    assert assembler.drain().interactions == []
    return fixture, {i.id: i for i in out.interactions}, assembler


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_one_interaction_per_answer(flavour: str, model_server: OpenAIServer) -> None:
    """Six answers (plain, streamed, tool call both ways, error both ways) give six
    interactions, each with the id the Node side handed out, the prompt, context, answer,
    usage summed over the model calls, model, provider, ids, tool calls and errors."""
    fixture, interactions, _ = _assembled(flavour)
    exchanges = fixture["exchanges"]
    assert sorted(interactions) == sorted(interaction_id(e) for e in exchanges)
    for exchange in exchanges:
        it = interactions[interaction_id(exchange)]
        request = exchange["request"]
        answers = [replay(model_server.base_url, b) for b in exchange["model_requests"]]
        assert (it.prompt, list(it.context)) == (
            request["message"],
            [{"role": "system", "content": SYSTEM}],
        )
        assert (it.model, it.provider) == (exchange["model_requests"][0]["model"], "openai")
        assert (it.user_id, it.session_id) == (request.get("user_id"), request.get("session_id"))
        steps = it.metadata["steps"]
        assert [s["kind"] for s in steps] == ["llm"] * len(answers)
        if answers[-1].status != 200:
            assert (it.response, it.error_type, it.token_usage) == ("", "AI_APICallError", None)
            assert steps[0]["error_type"] == "AI_APICallError"
            continue
        assert it.error_type is None
        if request.get("stream"):  # the first chunk, from the outer span's start
            ttft, first = it.time_to_first_token_ms, steps[0]
            assert ttft is not None
            assert it.latency_ms is not None
            assert first["latency_ms"] < it.latency_ms
            assert 0 < ttft < it.latency_ms
        else:
            assert it.time_to_first_token_ms is None
        assert it.response == answers[-1].text
        assert it.response_id == answers[-1].id
        assert it.finish_reasons == ("stop",)
        usage = it.token_usage
        assert usage is not None
        assert (usage.prompt, usage.completion) == (
            sum(a.prompt_tokens or 0 for a in answers),
            sum(a.completion_tokens or 0 for a in answers),
        )
        assert [s["token_usage"]["prompt"] for s in steps] == [a.prompt_tokens for a in answers]
        calls = [c for a in answers for c in a.tool_calls]
        assert [
            (c["name"], json.loads(c["arguments"])) for c in it.metadata.get("tool_calls", ())
        ] == [(c["name"], json.loads(c["arguments"])) for c in calls]


@pytest.mark.parametrize("flavour", ["v6", "v5"])
def test_outer_span_ending_after_the_app_span(flavour: str) -> None:
    """ai 5 and 6 end generateText's outer span after the caller's own span (the trace's
    root); one span at a time, in end order, still gives one interaction: the outer span
    with its step."""
    fixture = load(flavour)
    exchange = fixture["exchanges"][0]
    trace_id = interaction_id(exchange).split("-")[0]
    trace = sorted((s for s in spans(fixture) if s.trace_id == trace_id), key=lambda s: s.end)
    assert [s.name for s in trace] == [
        "ai.generateText.doGenerate",
        "chat request",
        "ai.generateText",
    ]
    assembler = TraceAssembler(_decode)
    out = Assembled()
    for span in trace:
        out.extend(_feed(assembler, [span]))
    assert [(i.id, len(i.metadata["steps"])) for i in out.interactions] == [
        (interaction_id(exchange), 1)
    ]


def test_feedback_on_the_trace_lands_on_the_answer() -> None:
    """Feedback given on the trace id, the app's request span or a model call moves onto
    the interaction of the outer span."""
    fixture, interactions, assembler = _assembled("v6")
    exchange = fixture["exchanges"][2]
    target = interaction_id(exchange)
    trace_id = target.split("-")[0]
    trace = [s for s in spans(fixture) if s.trace_id == trace_id]
    app = next(s for s in trace if s.name == "chat request")
    call = next(s for s in trace if s.name == "ai.generateText.doGenerate")
    given = [trace_id, f"{trace_id}-{app.span_id}", f"{trace_id}-{call.span_id}"]
    moved = assembler.feedback(
        [
            Feedback(
                id=f"f{n}",
                interaction_id=iid,
                type=FeedbackType.BINARY,
                data={"value": "thumbs_up"},
                timestamp=interactions[target].timestamp,
            )
            for n, iid in enumerate(given)
        ]
    )
    assert [f.interaction_id for f in moved] == [target] * 3
