"""Request and response of an OpenAI-style call to an :class:`Interaction`: pure functions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from opentelemetry.util.types import AttributeValue

from rlhf_otel import attributes as A
from rlhf_otel.recording._spans import dumps, interaction_to_attributes
from rlhf_otel.records._model import Interaction, TokenUsage

__all__ = [
    "CHAT",
    "COMPLETIONS",
    "RESPONSES",
    "ChatChunkAccumulator",
    "CompletionChunkAccumulator",
    "Kind",
    "RequestInfo",
    "ResponseInfo",
    "ResponsesEventAccumulator",
    "build_interaction",
    "interaction_attributes",
    "prompt_index",
    "read_request",
]

# Sampling parameters kept as model_params; the rest of a request is content or plumbing.
_PARAMS: Final = (
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "n",
    "stop",
    "reasoning_effort",
    "service_tier",
    "parallel_tool_calls",
    "logprobs",
    "top_logprobs",
    "truncation",
)
_MAX_TOKENS: Final = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def _get(obj: Any, name: str) -> Any:
    if type(obj) is dict:
        return obj.get(name)
    return getattr(obj, name, None)


def _given(value: object) -> bool:
    # The SDK's NOT_GIVEN / omit sentinels are falsy singletons of these two classes.
    return value is not None and type(value).__name__ not in ("NotGiven", "Omit")


def _text(content: Any) -> str:
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


def _tool_call(call: Any) -> dict[str, Any]:
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


# ----------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class Kind:
    """One wrapped API: its operation name and how to read its request and response."""

    name: str
    operation: str


CHAT: Final = Kind("chat.completions", "chat")
RESPONSES: Final = Kind("responses", "chat")
COMPLETIONS: Final = Kind("completions", "text_completion")


@dataclass(slots=True, kw_only=True)
class RequestInfo:
    """What a call asked for. ``messages`` is the whole conversation in order."""

    kind: Kind
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    user_id: str | None = None


def _chat_message(msg: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "role": _get(msg, "role") or "user",
        "content": _text(_get(msg, "content")),
    }
    calls = _get(msg, "tool_calls")
    if calls:
        out["tool_calls"] = [_tool_call(c) for c in calls]
    call_id = _get(msg, "tool_call_id")
    if call_id is not None:
        out["tool_call_id"] = call_id
    return out


def _responses_input(items: Any, instructions: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
        return messages
    for item in items or ():
        kind = _get(item, "type")
        if kind == "function_call":
            messages.append({"role": "assistant", "content": "", "tool_calls": [_tool_call(item)]})
        elif kind == "function_call_output":
            output = _get(item, "output")
            messages.append(
                {
                    "role": "tool",
                    "content": output if isinstance(output, str) else _text(output),
                    "tool_call_id": _get(item, "call_id"),
                }
            )
        elif kind in (None, "message"):
            role = _get(item, "role") or "user"
            messages.append(
                {
                    "role": "system" if role == "developer" else role,
                    "content": _text(_get(item, "content")),
                }
            )
    return messages


def read_request(kind: Kind, kwargs: Mapping[str, Any], capture_content: bool) -> RequestInfo:
    """The model, sampling parameters, end-user id and (if captured) messages of a call."""
    model = kwargs.get("model")
    params: dict[str, Any] = {}
    for name in _PARAMS:
        value = kwargs.get(name)
        if _given(value):
            params[name] = value
    for name in _MAX_TOKENS:
        value = kwargs.get(name)
        if _given(value):
            params["max_tokens"] = value
    tools = kwargs.get("tools")
    if _given(tools) and isinstance(tools, Sequence):
        names = [_get(_get(t, "function") or t, "name") for t in tools]
        params["tools"] = [n for n in names if isinstance(n, str)]
    user = kwargs.get("user")
    info = RequestInfo(
        kind=kind,
        model=model if isinstance(model, str) else None,
        params=params,
        user_id=user if isinstance(user, str) and user else None,
    )
    if capture_content:
        if kind is CHAT:
            info.messages = [_chat_message(m) for m in kwargs.get("messages") or ()]
        elif kind is RESPONSES:
            instructions = kwargs.get("instructions")
            info.messages = _responses_input(kwargs.get("input"), instructions)
        else:
            prompt = kwargs.get("prompt")
            if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
                prompt = prompt[0]
            info.messages = [
                {
                    "role": "user",
                    "content": prompt
                    if isinstance(prompt, str)
                    else ("" if prompt is None else dumps(prompt)),
                }
            ]
    return info


# ----------------------------------------------------------------------------- responses


@dataclass(slots=True, kw_only=True)
class ResponseInfo:
    """What came back: text and tool calls of the first choice, ids, reasons and usage."""

    response_id: str | None = None
    model: str | None = None
    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reasons: tuple[str, ...] = ()
    usage: TokenUsage | None = None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _usage(usage: Any, prompt: str, completion: str) -> TokenUsage | None:
    if usage is None:
        return None
    return TokenUsage(
        _int(_get(usage, prompt)), _int(_get(usage, completion)), _int(_get(usage, "total_tokens"))
    )


def read_chat_completion(obj: Any) -> ResponseInfo:
    """A ``ChatCompletion`` (or ``ParsedChatCompletion``) to :class:`ResponseInfo`."""
    info = ResponseInfo(response_id=_get(obj, "id"), model=_get(obj, "model"))
    choices = _get(obj, "choices") or ()
    if choices:
        message = _get(choices[0], "message")
        if message is not None:
            info.text = _text(_get(message, "content")) or _text(_get(message, "refusal"))
            info.tool_calls = [_tool_call(c) for c in _get(message, "tool_calls") or ()]
        info.finish_reasons = tuple(
            str(r) for r in (_get(c, "finish_reason") for c in choices) if r is not None
        )
    info.usage = _usage(_get(obj, "usage"), "prompt_tokens", "completion_tokens")
    return info


def read_completion(obj: Any) -> ResponseInfo:
    """A legacy ``Completion`` to :class:`ResponseInfo`."""
    info = ResponseInfo(response_id=_get(obj, "id"), model=_get(obj, "model"))
    choices = _get(obj, "choices") or ()
    if choices:
        info.text = _get(choices[0], "text") or ""
        info.finish_reasons = tuple(
            str(r) for r in (_get(c, "finish_reason") for c in choices) if r is not None
        )
    info.usage = _usage(_get(obj, "usage"), "prompt_tokens", "completion_tokens")
    return info


_INCOMPLETE_REASONS: Final = {"max_output_tokens": "length", "content_filter": "content_filter"}


def read_response(obj: Any) -> ResponseInfo:
    """A Responses-API ``Response`` to :class:`ResponseInfo`.

    The finish reason is ``stop``, ``tool_calls`` when the output calls a function, or the
    reason of an incomplete response (``length`` for ``max_output_tokens``).
    """
    info = ResponseInfo(response_id=_get(obj, "id"), model=_get(obj, "model"))
    texts: list[str] = []
    for item in _get(obj, "output") or ():
        kind = _get(item, "type")
        if kind == "message":
            texts.append(_text(_get(item, "content")))
        elif kind == "function_call":
            info.tool_calls.append(_tool_call(item))
    info.text = "".join(texts)
    status = _get(obj, "status")
    if status == "completed":
        info.finish_reasons = ("tool_calls",) if info.tool_calls else ("stop",)
    elif status == "incomplete":
        reason = _get(_get(obj, "incomplete_details"), "reason")
        info.finish_reasons = (_INCOMPLETE_REASONS.get(reason, str(reason or "incomplete")),)
    elif isinstance(status, str) and status not in ("in_progress", "queued"):
        info.finish_reasons = (status,)
    info.usage = _usage(_get(obj, "usage"), "input_tokens", "output_tokens")
    return info


READERS: Final = {
    CHAT: read_chat_completion,
    COMPLETIONS: read_completion,
    RESPONSES: read_response,
}


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
            info.response_id = _get(chunk, "id")
            info.model = _get(chunk, "model")
        for choice in _get(chunk, "choices") or ():
            index = _get(choice, "index") or 0
            reason = _get(choice, "finish_reason")
            if reason is not None:
                self._reasons[index] = str(reason)
            if index == 0:
                self._take_first(choice)
        usage = _get(chunk, "usage")
        if usage is not None:
            info.usage = _usage(usage, "prompt_tokens", "completion_tokens")

    def _take_first(self, choice: Any) -> None:
        raise NotImplementedError

    def result(self) -> ResponseInfo:
        """Everything seen so far (a stream read half-way gives the half it read)."""
        self.info.text = "".join(self._texts)
        self.info.finish_reasons = tuple(r for _, r in sorted(self._reasons.items()))
        return self.info


class ChatChunkAccumulator(_ChoiceChunkAccumulator):
    """Folds ``ChatCompletionChunk`` s into a :class:`ResponseInfo` (first choice's content
    and tool calls)."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        super().__init__()
        self._calls: dict[int, dict[str, Any]] = {}

    def _take_first(self, choice: Any) -> None:
        delta = _get(choice, "delta")
        if delta is None:
            return
        content = _get(delta, "content")
        if content:
            self._texts.append(content)
        for call in _get(delta, "tool_calls") or ():
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
    """Folds legacy ``Completion`` chunks into a :class:`ResponseInfo`."""

    __slots__ = ()

    def _take_first(self, choice: Any) -> None:
        if _get(choice, "text"):
            self._texts.append(_get(choice, "text"))


_FINAL_EVENTS: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesEventAccumulator:
    """Folds Responses-API stream events into a :class:`ResponseInfo`.

    The final ``response.completed`` (or ``.incomplete`` / ``.failed``) event carries the
    whole response, usage included; until it arrives the text deltas are what we have.
    """

    __slots__ = ("_final", "_texts", "error_type", "info")

    def __init__(self) -> None:
        self.info = ResponseInfo()
        self._texts: list[str] = []
        self._final: Any = None
        self.error_type: str | None = None

    def add(self, event: Any) -> None:
        """Take one event into account."""
        kind = _get(event, "type")
        if kind == "response.output_text.delta":
            self._texts.append(_get(event, "delta") or "")
        elif kind == "response.created":
            response = _get(event, "response")
            self.info.response_id = _get(response, "id")
            self.info.model = _get(response, "model")
        elif kind in _FINAL_EVENTS:
            self._final = _get(event, "response")
            if kind == "response.failed":
                error = _get(self._final, "error")
                self.error_type = str(_get(error, "code") or "response.failed")
        elif kind == "error":
            self.error_type = str(_get(event, "code") or "error")

    def result(self) -> ResponseInfo:
        """The final response when it arrived, else the deltas seen so far."""
        if self._final is not None:
            return read_response(self._final)
        self.info.text = "".join(self._texts)
        return self.info


# ----------------------------------------------------------------------------- interaction


def prompt_index(messages: Sequence[Mapping[str, Any]]) -> int | None:
    """Where the prompt (the last user message) is in ``messages``, if anywhere."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "user":
            return i
    return None


def build_interaction(
    request: RequestInfo,
    response: ResponseInfo | None,
    *,
    interaction_id: str,
    timestamp: datetime,
    provider: str,
    latency_ms: float | None = None,
    time_to_first_token_ms: float | None = None,
    error_type: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
    policy: Any = None,
) -> Interaction:
    """The interaction record of one call.

    ``prompt`` is the last user message; ``context`` the other messages in their order;
    ``response`` the text of the first choice. A usage the server did not report stays
    ``None``. ``policy`` (the logger's ``ContentPolicy``) redacts and limits the texts.
    """
    messages = request.messages
    index = prompt_index(messages)
    prompt = ""
    context: list[dict[str, Any]] = messages
    if index is not None:
        prompt = messages[index]["content"]
        context = messages[:index] + messages[index + 1 :]
    text = response.text if response is not None else ""
    if policy is not None:
        prompt, text, context = (
            policy.prompt(prompt),
            policy.response(text),
            policy.context(context),
        )
    return Interaction(
        id=interaction_id,
        prompt=prompt,
        response=text,
        timestamp=timestamp,
        model=request.model or (response.model if response is not None else None),
        provider=provider,
        model_params=request.params,
        latency_ms=latency_ms,
        token_usage=response.usage if response is not None else None,
        user_id=request.user_id or user_id,
        session_id=session_id,
        context=context,
        response_id=response.response_id if response is not None else None,
        finish_reasons=response.finish_reasons if response is not None else (),
        error_type=error_type,
        time_to_first_token_ms=time_to_first_token_ms,
        trace_id=trace_id,
        span_id=span_id,
    )


def _parts(msg: Mapping[str, Any]) -> list[dict[str, Any]]:
    if msg.get("tool_call_id") is not None:
        return [
            {"type": "tool_call_response", "id": msg["tool_call_id"], "response": msg["content"]}
        ]
    parts: list[dict[str, Any]] = []
    if msg["content"]:
        parts.append({"type": "text", "content": msg["content"]})
    for call in msg.get("tool_calls") or ():
        parts.append({"type": "tool_call", **call})
    return parts


def _ordered(
    it: Interaction, messages: list[dict[str, Any]]
) -> list[Mapping[str, Any]] | None:
    """The record's messages in the order they were sent; ``None`` when a size limit
    dropped some (the core's order, context then prompt, is used then)."""
    index = prompt_index(messages)
    context = list(it.context)
    if index is None:
        return context if len(context) == len(messages) else None
    if len(context) != len(messages) - 1:
        return None
    context.insert(index, {"role": "user", "content": it.prompt})
    return context


def interaction_attributes(
    it: Interaction,
    request: RequestInfo,
    response: ResponseInfo | None,
    *,
    capture_content: bool,
) -> dict[str, AttributeValue]:
    """The span attributes: the core mapping of ``it``, plus the response model and, with
    content, the messages in their original order and the answer's tool calls.

    The extra detail does not change the record: ``records_from_span`` reads back ``it``.
    """
    ordered = _ordered(it, request.messages) if capture_content else None
    attrs = interaction_to_attributes(
        it, capture_content=capture_content and ordered is None, operation=request.kind.operation
    )
    attrs[A.RLHF_INTERACTION_ID] = it.id
    if response is not None and response.model:
        attrs[A.GEN_AI_RESPONSE_MODEL] = response.model
    if ordered is not None:
        attrs[A.GEN_AI_INPUT_MESSAGES] = dumps(
            [{"role": m["role"], "parts": _parts(m)} for m in ordered]
            or [{"role": "user", "parts": [{"type": "text", "content": ""}]}]
        )
    if capture_content:
        calls = response.tool_calls if response is not None else None
        output: dict[str, Any] = {
            "role": "assistant",
            "parts": _parts({"content": it.response, "tool_calls": calls})
            if calls
            else [{"type": "text", "content": it.response}],
        }
        if it.finish_reasons:
            output["finish_reason"] = it.finish_reasons[0]
        attrs[A.GEN_AI_OUTPUT_MESSAGES] = dumps([output])
    return attrs
