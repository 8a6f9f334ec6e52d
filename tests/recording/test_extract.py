"""Reading prompts out of arguments, responses out of return values (no client needed)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

from rlhf_otel import TokenUsage
from rlhf_otel.recording import StreamAccumulator, extract_prompt, read_response


def test_prompt_from_messages_keeps_earlier_turns_as_context() -> None:
    """The last user message is the prompt; the others are context, in order."""
    msgs = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "u2"},
    ]
    assert extract_prompt(("messages",), (msgs,), {}) == (
        "u2",
        [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "u1"},
            {"role": "assistant", "content": "a1"},
        ],
    )


def test_prompt_from_named_parameter_or_first_string() -> None:
    """A prompt-like parameter wins; otherwise the first string argument."""
    assert extract_prompt(("self", "n", "question"), (object(), 3, "why?"), {}) == ("why?", [])
    assert extract_prompt(("a", "b"), (1, "text"), {}) == ("text", [])
    assert extract_prompt((), (), {"foo": "bar"}) == ("bar", [])
    assert extract_prompt(("x",), (1,), {}) == ("", [])


def test_response_api_object_and_content_parts() -> None:
    """Responses-API objects give output_text, input/output token usage and the chat
    vocabulary's finish reason."""
    resp = SimpleNamespace(
        output_text="done",
        model="gpt-5",
        id="resp_1",
        status="completed",
        usage=SimpleNamespace(input_tokens=3, output_tokens=4, total_tokens=7),
    )
    out = read_response(resp)
    assert (out.text, out.model, out.response_id, out.usage, out.finish_reasons) == (
        "done",
        "gpt-5",
        "resp_1",
        TokenUsage(3, 4, 7),
        ("stop",),
    )


def test_unknown_return_value_is_not_guessed() -> None:
    """An object we do not understand gives an empty response, not its repr."""
    assert read_response(12345).text == ""


def test_chunks_accumulate() -> None:
    """String, bytes, dict and Responses-API delta chunks fold into one text."""
    acc = StreamAccumulator()
    for c in ("a", b"b", {"delta": "c"}, {"content": "d"}):
        acc.add(c)
    assert acc.result().text == "abcd"
    events = StreamAccumulator()
    for delta in ("x", "y"):
        events.add(SimpleNamespace(type="response.output_text.delta", delta=delta))
    assert events.result().text == "xy"


def test_stream_reads_mappings_and_objects_alike_in_any_order() -> None:
    """Dicts, other mappings and attribute objects are each read their own way, mixed freely."""

    class Chunk:  # an object with a ``get`` method is still read by attribute
        def __init__(self, text: str, reason: str | None = None) -> None:
            self.id, self.model = "c1", "m-1"
            self.choices = [
                SimpleNamespace(index=0, delta=SimpleNamespace(content=text), finish_reason=reason)
            ]
            self.usage = None

        def get(self, name: str) -> str:
            return "wrong"

    class Frozen(Mapping[str, Any]):  # a mapping that is not a dict
        def __init__(self, **data: Any) -> None:
            self._data = data

        def __getitem__(self, key: str) -> Any:
            return self._data[key]

        def __iter__(self) -> Iterator[str]:
            return iter(self._data)

        def __len__(self) -> int:
            return len(self._data)

    usage = Frozen(prompt_tokens=3, completion_tokens=2)
    for _ in range(2):  # the second pass reads with what the first learnt about each type
        acc = StreamAccumulator()
        acc.add(Chunk("Hel"))
        acc.add({"id": "c1", "choices": [Frozen(index=0, delta={"content": "lo"})]})
        acc.add(Chunk("!", "stop"))
        acc.add({"id": "c1", "choices": [], "usage": usage})
        got = acc.result()
        assert (got.text, got.model, got.finish_reasons) == ("Hello!", "m-1", ("stop",))
        assert got.usage == TokenUsage(3, 2, 5)
