"""The Vercel AI SDK's ``ai.*`` spans, read from real traces (ai 5, 6, 7), against what the
model server saw and answered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from rlhf_otel.recording._dialect_aisdk import AI_SDK, provider_name, read_ai_sdk
from rlhf_otel.recording._dialects import Fields, read_fields
from tests.recording.ai_sdk_fixtures import (
    RecordedSpan,
    ServerAnswer,
    interaction_id,
    load,
    replay,
    spans,
)
from tests.servers.openai_server import OpenAIServer

SYSTEM = "You are a helpful assistant. Use the weather tool for questions about the weather."
AI_FLAVOURS = ("legacy", "v6", "v5")
EXCHANGES = range(6)


@pytest.fixture(scope="module")
def model_server() -> Iterator[OpenAIServer]:
    """The OpenAI-compatible test server the fixtures were recorded against."""
    with OpenAIServer() as server:
        yield server


def _trace(flavour: str, n: int) -> tuple[dict[str, Any], list[RecordedSpan], RecordedSpan]:
    fixture = load(flavour)
    exchange = fixture["exchanges"][n]
    trace_id, span_id = interaction_id(exchange).split("-")
    trace = [s for s in spans(fixture) if s.trace_id == trace_id]
    [outer] = [s for s in trace if s.span_id == span_id]
    return exchange, trace, outer


def _sent(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages of a chat request, in the dialect layer's form."""
    out = []
    for m in body["messages"]:
        msg: dict[str, Any] = {"role": m["role"], "content": m.get("content") or ""}
        if m.get("tool_calls"):
            msg["tool_calls"] = [
                {
                    "id": c["id"],
                    "name": c["function"]["name"],
                    "arguments": c["function"]["arguments"],
                }
                for c in m["tool_calls"]
            ]
        if m.get("tool_call_id"):
            msg["tool_call_id"] = m["tool_call_id"]
        out.append(msg)
    return out


def _answers(server: OpenAIServer, exchange: dict[str, Any]) -> list[ServerAnswer]:
    return [replay(server.base_url, body) for body in exchange["model_requests"]]


@pytest.mark.parametrize("n", EXCHANGES)
@pytest.mark.parametrize("flavour", AI_FLAVOURS)
def test_outer_span_is_the_answer(flavour: str, n: int, model_server: OpenAIServer) -> None:
    """ai.generateText/ai.streamText: a wrapper with the user's prompt, the final answer, the
    model and provider asked for, and usage as the server counted it."""
    exchange, _, outer = _trace(flavour, n)
    fields = read_ai_sdk(outer.view)
    answers = _answers(model_server, exchange)
    first = exchange["model_requests"][0]
    assert fields.kind == "wrapper"
    assert fields.messages == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": exchange["request"]["message"]},
    ]
    assert _sent(first)[-1] == {"role": "user", "content": exchange["request"]["message"]}
    assert (fields.model, fields.provider) == (first["model"], "openai")
    assert (fields.user_id, fields.session_id) == (
        exchange["request"].get("user_id"),
        exchange["request"].get("session_id"),
    )
    if answers[-1].status != 200:
        assert outer.error
        assert (fields.response, fields.input_tokens, fields.finish_reasons) == (None, None, None)
        return
    assert fields.response == answers[-1].text
    assert fields.finish_reasons == ("stop",)
    if flavour == "v5" and not exchange["request"].get("stream"):
        # ai 5's generateText puts its last step's usage there: left to the steps' sum.
        assert (fields.input_tokens, fields.output_tokens) == (None, None)
        return
    assert (fields.input_tokens, fields.output_tokens) == (
        sum(a.prompt_tokens or 0 for a in answers),
        sum(a.completion_tokens or 0 for a in answers),
    )


@pytest.mark.parametrize("n", EXCHANGES)
@pytest.mark.parametrize("flavour", AI_FLAVOURS)
def test_inner_spans_are_the_model_calls(flavour: str, n: int, model_server: OpenAIServer) -> None:
    """.doGenerate/.doStream: one model call each, with exactly the messages sent and the
    server's response id, text, tool calls and usage."""
    exchange, trace, outer = _trace(flavour, n)
    inner = [s for s in trace if s.name.startswith(outer.name + ".")]
    answers = _answers(model_server, exchange)
    assert len(inner) == len(exchange["model_requests"]) == len(answers)
    for span, body, answer in zip(inner, exchange["model_requests"], answers, strict=True):
        fields = read_ai_sdk(span.view)
        assert fields.kind == "llm"
        assert fields.messages == _sent(body)
        assert (fields.model, fields.provider) == (body["model"], "openai")
        if answer.status != 200:
            assert span.error
            assert (fields.response_id, fields.input_tokens) == (None, None)
            continue
        assert (fields.response_id, fields.response_model) == (answer.id, f"{body['model']}-2024")
        assert (fields.input_tokens, fields.output_tokens) == (
            answer.prompt_tokens,
            answer.completion_tokens,
        )
        assert (fields.response or "") == answer.text
        if answer.tool_calls:
            assert fields.finish_reasons == ("tool_calls",)
            # ai 6 and 7 parse the arguments; ai 5 keeps the provider's string.
            assert [(c["name"], json.loads(c["arguments"])) for c in fields.tool_calls or ()] == [
                (c["name"], json.loads(c["arguments"])) for c in answer.tool_calls
            ]
        else:
            assert fields.tool_calls is None


@pytest.mark.parametrize("flavour", AI_FLAVOURS)
def test_tool_runs_are_skipped_with_a_reason(flavour: str) -> None:
    """ai.toolCall spans are not interactions: skipped as ai_sdk:toolCall."""
    _, trace, _ = _trace(flavour, 2)
    [tool] = [s for s in trace if s.name == "ai.toolCall"]
    assert read_ai_sdk(tool.view).kind == "skip:ai_sdk:toolCall"
    assert AI_SDK.claims(tool.view)


def test_ai7_opentelemetry_spans_get_their_ids() -> None:
    """ai 7's OpenTelemetry integration (gen_ai.* spans): the AI SDK dialect adds the user
    and session ids from ai.settings.context.* and leaves the rest to gen_ai.*."""
    exchange, trace, outer = _trace("otel", 0)
    assert outer.name == "invoke_agent gpt-4o-mini"
    fields = read_ai_sdk(outer.view)
    assert fields == Fields(user_id="u-1", session_id="s-1")
    chat = next(s for s in trace if s.name.startswith("chat "))
    assert not AI_SDK.claims(chat.view)


def test_app_spans_are_not_claimed() -> None:
    """The app's own request span carries no ai.* attribute: the dialect leaves it alone."""
    fixture = load("v6")
    app = [s for s in spans(fixture) if s.name == "chat request"]
    assert len(app) == 6
    assert not any(AI_SDK.claims(s.view) for s in app)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("openai.chat", "openai"),
        ("openai.responses", "openai"),
        ("anthropic.messages", "anthropic"),
        ("google.generative-ai", "gcp.gemini"),
        ("amazon-bedrock", "aws.bedrock"),
        ("mistral.chat", "mistral_ai"),
        ("", None),
        (None, None),
    ],
)
def test_provider_names(value: object, expected: str | None) -> None:
    """ai.model.provider's first part, in the GenAI conventions' vocabulary."""
    assert provider_name(value) == expected


@pytest.mark.parametrize("n", EXCHANGES)
def test_ai7_invoke_agent_is_the_answer(n: int, model_server: OpenAIServer) -> None:
    """ai 7's invoke_agent span through the whole layer (gen_ai.* with the AI SDK's ids): the
    prompt, the final text without the tool results before it, the tool call, usage over
    every step, model, provider, user and session."""
    exchange, _, outer = _trace("otel", n)
    fields, reason = read_fields(outer.view)
    answers = _answers(model_server, exchange)
    assert (fields is not None, reason) == (True, None)
    assert fields is not None
    assert fields.kind == "wrapper"
    assert fields.messages == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": exchange["request"]["message"]},
    ]
    assert (fields.model, fields.provider) == (exchange["model_requests"][0]["model"], "openai")
    assert (fields.user_id, fields.session_id) == (
        exchange["request"].get("user_id"),
        exchange["request"].get("session_id"),
    )
    if answers[-1].status != 200:
        assert outer.error
        assert (fields.response, fields.input_tokens) == (None, None)
        return
    assert fields.response == answers[-1].text
    assert (fields.input_tokens, fields.output_tokens) == (
        sum(a.prompt_tokens or 0 for a in answers),
        sum(a.completion_tokens or 0 for a in answers),
    )
    calls = [c for a in answers for c in a.tool_calls]
    assert [(c["name"], json.loads(c["arguments"])) for c in fields.tool_calls or ()] == [
        (c["name"], json.loads(c["arguments"])) for c in calls
    ]
