"""What an LLM call returned, read the same way by every producer: pure functions over
strings, dicts and OpenAI-style objects (chat completions, legacy completions, the
Responses API), plain or streamed. No client is needed to test them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from rlhf_otel.records import TokenUsage

__all__ = [
    "content_text",
    "ChatChunkAccumulator",
    "ChunkAccumulator",
    "CompletionChunkAccumulator",
    "ResponseInfo",
    "ResponsesEventAccumulator",
    "StreamAccumulator",
    "read_chat_completion",
    "read_completion",
    "read_response",
    "read_responses_api",
    "read_usage",
    "tool_call",
]


@dataclass(slots=True, kw_only=True)
class ResponseInfo:
    """What came back: the first choice's text and tool calls, ids, reasons and usage.

    ``text`` is the answer (a refusal's text when the model refused); ``finish_reasons``
    use the chat vocabulary (``stop``, ``length``, ``tool_calls``, ``content_filter``) for
    every API, one per choice.
    """

    response_id: str | None = None
    model: str | None = None
    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reasons: tuple[str, ...] = ()
    usage: TokenUsage | None = None
    error_type: str | None = None


class ChunkAccumulator(Protocol):
    """Folds the chunks (or events) of a streamed response into a :class:`ResponseInfo`."""

    def add(self, chunk: Any) -> None:
        """Take one chunk into account."""

    def result(self) -> ResponseInfo:
        """Everything seen so far (a stream read half-way gives the half it read)."""


_MAPPING_TYPES: dict[type, bool] = {}
_MAX_TYPES: Final = 512


def _get(obj: Any, name: str) -> Any:
    # The abstract-class check is the dearest step of a chunk's dozen reads: ask it once
    # per type (a response has a handful of them).
    cls = type(obj)
    mapping = _MAPPING_TYPES.get(cls)
    if mapping is None:
        mapping = isinstance(obj, Mapping)
        if len(_MAPPING_TYPES) < _MAX_TYPES:
            _MAPPING_TYPES[cls] = mapping
    if mapping:
        return obj.get(name)
    return getattr(obj, name, None)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def content_text(content: Any) -> str:
    """The text of a message content: a string, or the text parts of a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
                continue
            text = _get(part, "text")
            if isinstance(text, str):
                texts.append(text)
            elif _get(part, "type") == "refusal" and isinstance(_get(part, "refusal"), str):
                texts.append(_get(part, "refusal"))
        return "".join(texts)
    return str(content)


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def tool_call(call: Any) -> dict[str, Any]:
    """A tool call in the GenAI convention's shape: ``{id, name, arguments}``."""
    function = _get(call, "function")
    if function is not None:
        name, arguments = _get(function, "name"), _get(function, "arguments")
    else:
        name, arguments = _get(call, "name"), _get(call, "arguments")
    out: dict[str, Any] = {"id": _get(call, "id") or _get(call, "call_id"), "name": name}
    if arguments is not None:
        out["arguments"] = _arguments(arguments)
    return out


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_usage(usage: Any) -> TokenUsage | None:
    """Token counts of any API's usage object; the total is the sum when not reported."""
    if usage is None:
        return None
    prompt = _int(_get(usage, "prompt_tokens"))
    if prompt is None:
        prompt = _int(_get(usage, "input_tokens"))
    completion = _int(_get(usage, "completion_tokens"))
    if completion is None:
        completion = _int(_get(usage, "output_tokens"))
    total = _int(_get(usage, "total_tokens"))
    if prompt is None and completion is None and total is None:
        return None
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    return TokenUsage(prompt, completion, total)


def _reasons(choices: Sequence[Any]) -> tuple[str, ...]:
    return tuple(str(r) for r in (_get(c, "finish_reason") for c in choices) if r is not None)


def read_chat_completion(obj: Any) -> ResponseInfo:
    """A ``ChatCompletion`` (or ``ParsedChatCompletion``, or its dict) to :class:`ResponseInfo`."""
    info = ResponseInfo(response_id=_str(_get(obj, "id")), model=_str(_get(obj, "model")))
    choices = _get(obj, "choices") or ()
    if choices:
        message = _get(choices[0], "message")
        if message is not None:
            content, refusal = _get(message, "content"), _get(message, "refusal")
            info.text = content_text(content) or content_text(refusal)
            info.tool_calls = [tool_call(c) for c in _get(message, "tool_calls") or ()]
        info.finish_reasons = _reasons(choices)
    info.usage = read_usage(_get(obj, "usage"))
    return info


def read_completion(obj: Any) -> ResponseInfo:
    """A legacy ``Completion`` (or its dict) to :class:`ResponseInfo`."""
    info = ResponseInfo(response_id=_str(_get(obj, "id")), model=_str(_get(obj, "model")))
    choices = _get(obj, "choices") or ()
    if choices:
        info.text = _str(_get(choices[0], "text")) or ""
        info.finish_reasons = _reasons(choices)
    info.usage = read_usage(_get(obj, "usage"))
    return info


_INCOMPLETE_REASONS: Final = {"max_output_tokens": "length", "content_filter": "content_filter"}


def read_responses_api(obj: Any) -> ResponseInfo:
    """A Responses-API ``Response`` (or its dict) to :class:`ResponseInfo`.

    The finish reason is ``stop``, ``tool_calls`` when the output calls a function, or the
    reason of an incomplete response (``length`` for ``max_output_tokens``).
    """
    info = ResponseInfo(response_id=_str(_get(obj, "id")), model=_str(_get(obj, "model")))
    texts: list[str] = []
    for item in _get(obj, "output") or ():
        kind = _get(item, "type")
        if kind == "message":
            texts.append(content_text(_get(item, "content")))
        elif kind == "function_call":
            info.tool_calls.append(tool_call(item))
    info.text = "".join(texts)
    if not info.text and isinstance(_get(obj, "output_text"), str):
        info.text = _get(obj, "output_text")
    status = _get(obj, "status")
    if status == "completed":
        info.finish_reasons = ("tool_calls",) if info.tool_calls else ("stop",)
    elif status == "incomplete":
        reason = _get(_get(obj, "incomplete_details"), "reason")
        info.finish_reasons = (_INCOMPLETE_REASONS.get(reason, str(reason or "incomplete")),)
    elif isinstance(status, str) and status not in ("in_progress", "queued"):
        info.finish_reasons = (status,)
    if status == "failed":
        info.error_type = str(_get(_get(obj, "error"), "code") or "response.failed")
    info.usage = read_usage(_get(obj, "usage"))
    return info


_TEXT_KEYS: Final = ("response", "content", "text", "output", "answer", "completion")


def read_response(value: Any) -> ResponseInfo:
    """Whatever a call returned: a string, an OpenAI-style object of any API, or a dict.

    A dict without a known shape gives the first string among ``response``, ``content``,
    ``text``, ``output``, ``answer``, ``completion``.
    """
    if isinstance(value, str):
        return ResponseInfo(text=value)
    if value is None:
        return ResponseInfo()
    choices = _get(value, "choices")
    if isinstance(choices, Sequence) and not isinstance(choices, str):
        if choices and _get(choices[0], "message") is None and _get(choices[0], "text") is not None:
            return read_completion(value)
        return read_chat_completion(value)
    output = _get(value, "output")
    if (
        (isinstance(output, Sequence) and not isinstance(output, str))
        or _get(value, "object") == "response"
        or isinstance(_get(value, "output_text"), str)
    ):
        return read_responses_api(value)
    info = ResponseInfo(
        response_id=_str(_get(value, "id")),
        model=_str(_get(value, "model")),
        usage=read_usage(_get(value, "usage")),
    )
    if isinstance(value, Mapping):
        for key in _TEXT_KEYS:
            if isinstance(value.get(key), str):
                info.text = value[key]
                break
    return info


# ----------------------------------------------------------------------------- streams


class _ChoiceChunkAccumulator:
    """Folds chunks with ``choices`` into a :class:`ResponseInfo`: id, model, usage and every
    choice's finish reason; :meth:`_take_first` reads the first choice's content."""

    __slots__ = ("_reasons", "_texts", "info")

    def __init__(self) -> None:
        self.info = ResponseInfo()
        self._texts: list[str] = []
        self._reasons: dict[int, str] = {}

    def add(self, chunk: Any) -> None:
        """Take one chunk into account."""
        info = self.info
        if info.response_id is None:
            info.response_id = _str(_get(chunk, "id"))
        if info.model is None:
            info.model = _str(_get(chunk, "model"))
        for choice in _get(chunk, "choices") or ():
            index = _get(choice, "index") or 0
            reason = _get(choice, "finish_reason")
            if reason is not None:
                self._reasons[index] = str(reason)
            if index == 0:
                self._take_first(choice)
        usage = read_usage(_get(chunk, "usage"))
        if usage is not None:
            info.usage = usage

    def _take_first(self, choice: Any) -> None:
        raise NotImplementedError

    def result(self) -> ResponseInfo:
        """Everything seen so far (a stream read half-way gives the half it read)."""
        self.info.text = "".join(self._texts)
        self.info.finish_reasons = tuple(r for _, r in sorted(self._reasons.items()))
        return self.info


_SDK_CHUNK_MODULE: Final = "openai.types.chat.chat_completion_chunk"


class ChatChunkAccumulator(_ChoiceChunkAccumulator):
    """Folds ``ChatCompletionChunk`` s (first choice's content, refusal and tool calls)."""

    __slots__ = ("_calls", "_sdk_type")

    def __init__(self) -> None:
        super().__init__()
        self._calls: dict[int, dict[str, Any]] = {}
        self._sdk_type: type | None = None

    def add(self, chunk: Any) -> None:
        """Take one chunk into account."""
        # A stream yields chunks of one type, a long answer hundreds of them. The openai
        # SDK's chunk type holds its own types all the way down (never mappings), so its
        # chunks are read by attribute alone, sparing each read its type dispatch.
        cls = type(chunk)
        if cls is not self._sdk_type:
            if self._sdk_type is not None or cls.__module__ != _SDK_CHUNK_MODULE:
                super().add(chunk)
                return
            self._sdk_type = cls
        info = self.info
        if info.response_id is None:
            info.response_id = _str(chunk.id)
        if info.model is None:
            info.model = _str(chunk.model)
        for choice in chunk.choices or ():
            index = choice.index or 0
            if choice.finish_reason is not None:
                self._reasons[index] = str(choice.finish_reason)
            delta = choice.delta
            if index == 0 and delta is not None:
                content = delta.content or getattr(delta, "refusal", None)  # openai < 1.40
                if isinstance(content, str) and content:
                    self._texts.append(content)
                if delta.tool_calls:
                    self._take_calls(delta.tool_calls)
        if chunk.usage is not None:
            usage = read_usage(chunk.usage)
            if usage is not None:
                info.usage = usage

    def _take_first(self, choice: Any) -> None:
        delta = _get(choice, "delta")
        if delta is None:
            return
        content = _get(delta, "content") or _get(delta, "refusal")
        if isinstance(content, str) and content:
            self._texts.append(content)
        self._take_calls(_get(delta, "tool_calls") or ())

    def _take_calls(self, calls: Any) -> None:
        for call in calls:
            slot = self._calls.setdefault(_get(call, "index") or 0, {"arguments": []})
            if _get(call, "id"):
                slot["id"] = _get(call, "id")
            function = _get(call, "function")
            if function is not None:
                if _get(function, "name"):
                    slot["name"] = _get(function, "name")
                if _get(function, "arguments"):
                    slot["arguments"].append(_get(function, "arguments"))

    def result(self) -> ResponseInfo:
        """Everything seen so far, tool calls included."""
        info = super().result()
        info.tool_calls = [
            {
                "id": c.get("id"),
                "name": c.get("name"),
                "arguments": _arguments("".join(c["arguments"])),
            }
            for _, c in sorted(self._calls.items())
        ]
        return info


class CompletionChunkAccumulator(_ChoiceChunkAccumulator):
    """Folds legacy ``Completion`` chunks."""

    __slots__ = ()

    def _take_first(self, choice: Any) -> None:
        text = _get(choice, "text")
        if isinstance(text, str) and text:
            self._texts.append(text)


_FINAL_EVENTS: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesEventAccumulator:
    """Folds Responses-API stream events.

    The final ``response.completed`` (or ``.incomplete`` / ``.failed``) event carries the
    whole response, usage included; until it arrives the text deltas are what we have.
    """

    __slots__ = ("_final", "_texts", "info")

    def __init__(self) -> None:
        self.info = ResponseInfo()
        self._texts: list[str] = []
        self._final: Any = None

    def add(self, event: Any) -> None:
        """Take one event into account."""
        kind = _get(event, "type")
        if kind == "response.output_text.delta":
            self._texts.append(_str(_get(event, "delta")) or "")
        elif kind == "response.created":
            response = _get(event, "response")
            self.info.response_id = _str(_get(response, "id"))
            self.info.model = _str(_get(response, "model"))
        elif kind in _FINAL_EVENTS:
            self._final = _get(event, "response")
        elif kind == "error":
            self.info.error_type = str(_get(event, "code") or "error")

    def result(self) -> ResponseInfo:
        """The final response when it arrived, else the deltas seen so far."""
        if self._final is not None:
            return read_responses_api(self._final)
        self.info.text = "".join(self._texts)
        return self.info


class _TextAccumulator:
    """Folds plain text chunks (strings, bytes, or dicts with a text field)."""

    __slots__ = ("_texts", "info")

    def __init__(self) -> None:
        self.info = ResponseInfo()
        self._texts: list[str] = []

    def add(self, chunk: Any) -> None:
        if isinstance(chunk, str):
            self._texts.append(chunk)
        elif isinstance(chunk, bytes):
            self._texts.append(chunk.decode("utf-8", "replace"))
        elif isinstance(chunk, Mapping):
            for key in ("delta", "content", "text"):
                if isinstance(chunk.get(key), str):
                    self._texts.append(chunk[key])
                    break
            if self.info.model is None:
                self.info.model = _str(chunk.get("model"))
            if self.info.response_id is None:
                self.info.response_id = _str(chunk.get("id"))
            usage = read_usage(chunk.get("usage"))
            if usage is not None:
                self.info.usage = usage

    def result(self) -> ResponseInfo:
        self.info.text = "".join(self._texts)
        return self.info


class StreamAccumulator:
    """A :class:`ChunkAccumulator` for a stream of unknown kind: the first chunk decides
    (chat chunks, legacy completion chunks, Responses-API events, or plain text)."""

    __slots__ = ("_inner",)

    def __init__(self) -> None:
        self._inner: ChunkAccumulator | None = None

    @staticmethod
    def _for(chunk: Any) -> ChunkAccumulator:
        if isinstance(chunk, (str, bytes)):
            return _TextAccumulator()
        kind = _get(chunk, "type")
        if isinstance(kind, str) and (kind.startswith("response.") or kind == "error"):
            return ResponsesEventAccumulator()
        choices = _get(chunk, "choices")
        if isinstance(choices, Sequence) and not isinstance(choices, str):
            if choices and _get(choices[0], "delta") is None and _get(choices[0], "text"):
                return CompletionChunkAccumulator()
            return ChatChunkAccumulator()
        return _TextAccumulator()

    def add(self, chunk: Any) -> None:
        """Take one chunk into account."""
        if self._inner is None:
            self._inner = self._for(chunk)
        self._inner.add(chunk)

    def result(self) -> ResponseInfo:
        """Everything seen so far."""
        return ResponseInfo() if self._inner is None else self._inner.result()
