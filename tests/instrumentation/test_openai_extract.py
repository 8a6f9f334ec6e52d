"""Pure extraction: request and response objects to an Interaction, with no client."""

from __future__ import annotations

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rlhf_otel_instrumentation.openai import provider_for_host
from rlhf_otel_instrumentation.openai._extract import (
    CHAT,
    COMPLETIONS,
    RESPONSES,
    RequestInfo,
    read_request,
)

from rlhf_otel import attributes as A
from rlhf_otel import redact_secrets
from rlhf_otel._redact import ContentPolicy
from rlhf_otel.pipeline import RecordQueue
from rlhf_otel.recording import (
    ChatChunkAccumulator,
    CompletionChunkAccumulator,
    RecordingHandler,
    ResponseInfo,
    ResponsesEventAccumulator,
    read_chat_completion,
    read_completion,
    read_response,
    records_from_span,
)
from rlhf_otel.records import Interaction, TokenUsage
from rlhf_otel.stores import MemoryStore

TOOL_TURN = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
]


def _chat_completion(**message: object) -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-2024-08-06",
            "choices": [
                {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
        }
    )


def test_chat_request_keeps_messages_in_order_with_tool_calls() -> None:
    """A chat request's messages keep their order; tool calls take the GenAI shape."""
    info = read_request(CHAT, {"model": "gpt-4o", "messages": TOOL_TURN}, True)
    assert info.messages == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
        },
        {"role": "tool", "content": "18C, sunny", "tool_call_id": "call_1"},
    ]


def test_chat_request_params_skip_sentinels_and_name_max_tokens() -> None:
    """Sampling params are kept, NOT_GIVEN/omit skipped, max_completion_tokens is max_tokens."""
    info = read_request(
        CHAT,
        {
            "model": "gpt-4o",
            "messages": [],
            "temperature": 0.2,
            "top_p": openai.NOT_GIVEN,
            "seed": openai.omit,
            "max_completion_tokens": 64,
            "stop": ["\n"],
            "user": "user-7",
            "tools": [{"type": "function", "function": {"name": "get_weather"}}],
        },
        True,
    )
    assert info.model == "gpt-4o"
    assert info.params == {
        "temperature": 0.2,
        "stop": ["\n"],
        "max_tokens": 64,
        "tools": ["get_weather"],
    }
    assert info.user_id == "user-7"


def test_request_without_content_capture_has_no_messages() -> None:
    """With content capture off no message is read at all."""
    info = read_request(CHAT, {"model": "m", "messages": TOOL_TURN}, False)
    assert info.messages == []


def test_responses_request_maps_instructions_and_items() -> None:
    """Responses input: instructions become a system message, function items tool turns."""
    info = read_request(
        RESPONSES,
        {
            "model": "gpt-4o",
            "instructions": "Be brief.",
            "max_output_tokens": 50,
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
                {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
                {"role": "developer", "content": "Answer now."},
            ],
        },
        True,
    )
    assert info.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "name": "w", "arguments": {}}],
        },
        {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
        {"role": "system", "content": "Answer now."},
    ]
    assert info.params == {"max_tokens": 50}


def test_completions_request_takes_first_prompt_of_a_list() -> None:
    """A legacy completion prompt list records its first prompt."""
    info = read_request(COMPLETIONS, {"model": "davinci", "prompt": ["a", "b"]}, True)
    assert info.messages == [{"role": "user", "content": "a"}]


def test_read_chat_completion() -> None:
    """A ChatCompletion gives id, model, text, finish reasons and usage."""
    info = read_chat_completion(_chat_completion(content="Hi there"))
    assert (info.response_id, info.model, info.text) == (
        "chatcmpl-1",
        "gpt-4o-2024-08-06",
        "Hi there",
    )
    assert info.finish_reasons == ("stop",)
    assert info.usage == TokenUsage(11, 3, 14)


def test_read_completion_and_response() -> None:
    """Legacy completions and Responses-API objects are read the same way."""
    completion = openai.types.Completion.model_validate(
        {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 1,
            "model": "davinci-002",
            "choices": [{"text": " ok", "index": 0, "finish_reason": "length", "logprobs": None}],
        }
    )
    info = read_completion(completion)
    assert (info.text, info.finish_reasons, info.usage) == (" ok", ("length",), None)
    response = Response.model_construct(
        id="resp_1",
        model="gpt-4o",
        status="incomplete",
        incomplete_details={"reason": "max_output_tokens"},
        output=[{"type": "message", "content": [{"type": "output_text", "text": "par"}]}],
        usage={"input_tokens": 4, "output_tokens": 9, "total_tokens": 13},
    )
    info = read_response(response)
    assert (info.text, info.finish_reasons, info.usage) == (
        "par",
        ("length",),
        TokenUsage(4, 9, 13),
    )


def test_chat_chunks_fold_text_tool_calls_and_final_usage() -> None:
    """Chunks fold into text, tool calls (arguments joined) and the usage chunk's counts."""
    acc = ChatChunkAccumulator()
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m-1"}
    deltas = [
        {"role": "assistant", "content": "Let me "},
        {"content": "check."},
        {"tool_calls": [{"index": 0, "id": "call_9", "function": {"name": "w", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a": '}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]},
    ]
    for delta in deltas:
        acc.add(
            ChatCompletionChunk.model_validate({**base, "choices": [{"index": 0, "delta": delta}]})
        )
    acc.add(
        ChatCompletionChunk.model_validate(
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
        )
    )
    half = acc.result()
    assert half.usage is None
    acc.add(
        ChatCompletionChunk.model_validate(
            {
                **base,
                "choices": [],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
            }
        )
    )
    info = acc.result()
    assert info.text == "Let me check."
    assert info.tool_calls == [{"id": "call_9", "name": "w", "arguments": {"a": 1}}]
    assert (info.response_id, info.model, info.finish_reasons) == ("c1", "m-1", ("tool_calls",))
    assert info.usage == TokenUsage(5, 7, 12)


def test_sdk_chunks_and_mappings_fold_to_the_same_response() -> None:
    """The openai SDK's chunk objects (its read-by-attribute path), the same chunks as
    mappings, and a stream that mixes the two fold to the same response."""
    base = {"id": "c2", "object": "chat.completion.chunk", "created": 1, "model": "m-2"}
    bodies = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}},
                             {"index": 1, "delta": {"content": "other"}}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"refusal": " no"}}]},
        {**base, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 1, "id": "call_2", "function": {"name": "f", "arguments": "{}"}}]}}]},
        {**base, "choices": [{"index": 1, "delta": {}, "finish_reason": "length"},
                             {"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}},
    ]  # fmt: skip

    def fold(chunks: list[object]) -> ResponseInfo:
        acc = ChatChunkAccumulator()
        for chunk in chunks:
            acc.add(chunk)
        return acc.result()

    sdk = [ChatCompletionChunk.construct(**b) for b in bodies]  # as the SDK's stream builds them
    validated = [ChatCompletionChunk.model_validate(b) for b in bodies]
    mixed: list[object] = [bodies[0], *validated[1:3], bodies[3], *validated[4:]]
    expected = fold(list(bodies))
    assert expected.text == "Hello no"
    assert expected.tool_calls == [{"id": "call_2", "name": "f", "arguments": {}}]
    assert expected.finish_reasons == ("stop", "length")
    assert expected.usage == TokenUsage(3, 4, 7)
    assert fold(validated) == fold(mixed) == expected
    assert fold(sdk) == expected


def test_completion_chunks_fold() -> None:
    """Legacy completion chunks fold into text and finish reason; no usage chunk, no usage."""
    acc = CompletionChunkAccumulator()
    for text, reason in ((" a", None), (" b", None), ("", "stop")):
        acc.add(
            {
                "id": "x",
                "model": "d",
                "choices": [{"index": 0, "text": text, "finish_reason": reason}],
            }
        )
    info = acc.result()
    assert (info.text, info.finish_reasons, info.usage) == (" a b", ("stop",), None)


def test_responses_events_use_final_response_or_deltas() -> None:
    """Responses events: the final response wins; before it, the deltas read so far."""
    acc = ResponsesEventAccumulator()
    acc.add({"type": "response.created", "response": {"id": "resp_1", "model": "m"}})
    acc.add({"type": "response.output_text.delta", "delta": "Hel"})
    assert (acc.result().text, acc.result().response_id) == ("Hel", "resp_1")
    acc.add(
        {
            "type": "response.completed",
            "response": {
                "id": "resp_1",
                "model": "m",
                "status": "completed",
                "output": [
                    {"type": "message", "content": [{"type": "output_text", "text": "Hello"}]}
                ],
                "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
            },
        }
    )
    info = acc.result()
    assert (info.text, info.finish_reasons, info.usage) == ("Hello", ("stop",), TokenUsage(1, 2, 3))
    failed = ResponsesEventAccumulator()
    failed.add(
        {
            "type": "response.failed",
            "response": {"status": "failed", "error": {"code": "server_error"}},
        }
    )
    assert failed.result().error_type == "server_error"


def _recorded(
    request: RequestInfo, response: ResponseInfo, policy: ContentPolicy | None = None
) -> tuple[dict[str, object], Interaction]:
    """The span attributes and the record of one call through a recording handler."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    store = MemoryStore(max_entries=None)
    queue = RecordQueue(store, batching=False)
    handler = RecordingHandler(provider.get_tracer("t"), policy=policy, queue=queue)
    call = handler.start(model=request.model, provider="openai")
    handler.stop(call, response, messages=request.messages, params=request.params)
    queue.shutdown()
    (span,) = exporter.get_finished_spans()
    (record,) = store.scan_interactions()
    decoded, _ = records_from_span(span)
    assert decoded == record
    attrs = dict(span.attributes or {})
    assert attrs.pop(A.RLHF_RECORD_QUEUE) == queue.token
    return attrs, record


def test_attributes_keep_message_order_and_read_back_as_the_record() -> None:
    """Span attributes list messages in sent order and records_from_span gives the record back."""
    request = read_request(CHAT, {"model": "gpt-4o", "messages": TOOL_TURN}, True)
    response = read_chat_completion(
        _chat_completion(
            content=None,
            tool_calls=[
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "book", "arguments": "{}"},
                }
            ],
        )
    )
    attrs, back = _recorded(request, response)
    assert attrs[A.GEN_AI_INPUT_MESSAGES] == (
        '[{"role":"system","parts":[{"type":"text","content":"You are terse."}]},'
        '{"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]},'
        '{"role":"assistant","parts":[{"type":"tool_call","id":"call_1","name":"get_weather",'
        '"arguments":{"city":"Paris"}}]},'
        '{"role":"tool","parts":[{"type":"tool_call_response","id":"call_1",'
        '"response":"18C, sunny"}]}]'
    )
    assert attrs[A.GEN_AI_OUTPUT_MESSAGES] == (
        '[{"role":"assistant","parts":[{"type":"tool_call","id":"call_2","name":"book",'
        '"arguments":{}}],"finish_reason":"stop"}]'
    )
    assert attrs[A.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert back.prompt == "Weather in Paris?"
    assert list(back.context) == [
        {"role": "system", "content": "You are terse."},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
        },
        {"role": "tool", "content": "18C, sunny", "tool_call_id": "call_1"},
    ]
    assert (back.response, back.finish_reasons, back.token_usage) == (
        "",
        ("stop",),
        TokenUsage(11, 3, 14),
    )


def test_policy_redacts_every_text() -> None:
    """A logger's content policy redacts prompt, response and context of the record."""
    request = read_request(
        CHAT,
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "key sk-abcdefghijklmnopqrstuvwx"},
                {"role": "user", "content": "mail me at a@b.io"},
            ],
        },
        True,
    )
    response = read_chat_completion(_chat_completion(content="ok a@b.io"))
    _, it = _recorded(request, response, ContentPolicy([redact_secrets]))
    assert it.prompt == "mail me at [REDACTED:email]"
    assert it.response == "ok [REDACTED:email]"
    assert list(it.context) == [{"role": "system", "content": "key [REDACTED:api_key]"}]


def test_provider_for_host() -> None:
    """Provider names come from the host or a parent domain, overrides first, else openai."""
    assert provider_for_host("api.openai.com") == "openai"
    assert provider_for_host("api.groq.com") == "groq"
    assert provider_for_host("my-res.openai.azure.com") == "azure.ai.openai"
    assert provider_for_host("API.Together.XYZ.") == "together_ai"
    assert provider_for_host("127.0.0.1") == "openai"
    assert provider_for_host("127.0.0.1", 8000, {"127.0.0.1:8000": "vllm"}) == "vllm"
    assert provider_for_host("127.0.0.1", 9000, {"127.0.0.1:8000": "vllm"}) == "openai"
    assert provider_for_host("gpu-box", None, {"gpu-box": "vllm"}) == "vllm"
