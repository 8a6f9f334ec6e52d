"""The GenAI semantic conventions: current attributes and the
``gen_ai.client.inference.operation.details`` event, and the older per-message events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from rlhf_otel.recording._dialects import (
    DIALECT_EVENTS,
    KIND_LLM,
    KIND_WRAPPER,
    Dialect,
    EventView,
    Fields,
    Scalars,
    SpanView,
    loads,
    normalize_message,
    normalize_messages,
    text_of,
)

__all__ = ["GENAI", "MESSAGE_EVENTS", "read_message_events"]

_DETAILS: Final = "gen_ai.client.inference.operation.details"
_GENERATIONS: Final = frozenset({"chat", "text_completion", "generate_content"})
_WRAPPERS: Final = frozenset({"invoke_agent", "invoke_workflow"})
_PARAMS: Final = {
    "gen_ai.request.temperature": "temperature",
    "gen_ai.request.max_tokens": "max_tokens",
    "gen_ai.request.top_p": "top_p",
}

SCALARS: Final = Scalars(
    model=("gen_ai.request.model",),
    response_model=("gen_ai.response.model",),
    provider=("gen_ai.provider.name", "gen_ai.system"),
    input_tokens=("gen_ai.usage.input_tokens",),
    output_tokens=("gen_ai.usage.output_tokens",),
    total_tokens=("gen_ai.usage.total_tokens",),
    finish_reasons=("gen_ai.response.finish_reasons",),
    response_id=("gen_ai.response.id",),
    user_id=("user.id", "enduser.id"),
    session_id=("session.id", "gen_ai.conversation.id"),
    error_type=("error.type",),
)


def _system(value: Any) -> dict[str, Any] | None:
    if value is None:  # most spans send no system instructions
        return None
    value = loads(value) if not isinstance(value, str) or value[:1] in "[{" else value
    text = value if isinstance(value, str) else text_of(_parts_as_blocks(value))
    return {"role": "system", "content": text} if text else None


def _parts_as_blocks(value: Any) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        return []
    return [
        {"type": "text", "text": p.get("content")}
        if isinstance(p, Mapping) and p.get("type") == "text"
        else p
        for p in value
    ]


def _answer_text(raw: Any, message: Mapping[str, Any]) -> str:
    """The text of an output message; tool results in it (an agent's output lists its tool
    calls, their results, then the answer) are not part of the answer."""
    if "tool_call_id" not in message:  # no tool results: the normalized text is the answer
        return str(message["content"])
    parts = raw.get("parts") if isinstance(raw, Mapping) else None
    if not isinstance(parts, (list, tuple)):
        return str(message.get("content", ""))
    return "".join(
        p["content"]
        for p in parts
        if isinstance(p, Mapping) and p.get("type") == "text" and isinstance(p.get("content"), str)
    )


def _outputs(value: Any, out: Fields) -> None:
    raw = loads(value)  # parsed once: normalizing, the answer text and finish reasons read it
    if not isinstance(raw, (list, tuple)):
        return
    pairs = [(r, m) for r, m in ((r, normalize_message(r)) for r in raw) if m is not None]
    if not pairs and raw:
        return
    out.response = "".join(_answer_text(r, m) for r, m in pairs)
    calls = [c for _, m in pairs for c in m.get("tool_calls", ())]
    if calls:
        out.tool_calls = calls
    if out.finish_reasons is None:
        reasons = tuple(
            str(m["finish_reason"])
            for m in raw
            if isinstance(m, Mapping) and m.get("finish_reason")
        )
        if reasons:
            out.finish_reasons = reasons


def _content(attrs: Mapping[str, Any], out: Fields) -> None:
    if out.messages is None and "gen_ai.input.messages" in attrs:
        messages = normalize_messages(attrs["gen_ai.input.messages"])
        if messages is not None:
            system = _system(attrs.get("gen_ai.system_instructions"))
            out.messages = ([system] if system else []) + messages
    if out.response is None and "gen_ai.output.messages" in attrs:
        _outputs(attrs["gen_ai.output.messages"], out)


def read_current(view: SpanView) -> Fields:
    """Current conventions: span attributes, then the operation-details event or log."""
    attrs = view.attributes
    out = Fields()
    op = attrs.get("gen_ai.operation.name")
    if isinstance(op, str):
        if op in _GENERATIONS:
            out.kind = KIND_LLM
        elif op in _WRAPPERS:
            out.kind = KIND_WRAPPER
        else:
            out.kind = f"skip:gen_ai:{op}"
    _content(attrs, out)
    for event in view.events:
        if event.name == _DETAILS:
            _content(event.attributes, out)
            SCALARS.read(event.attributes, out)
    SCALARS.read(attrs, out)
    params = {name: attrs[key] for key, name in _PARAMS.items() if key in attrs}
    if params:
        out.params = params
    ttft = attrs.get("gen_ai.client.operation.time_to_first_chunk")  # seconds (ai 7 writes it)
    if isinstance(ttft, (int, float)) and not isinstance(ttft, bool):
        out.ttft_ms = float(ttft) * 1000
    if out.kind is None and (out.messages is not None or out.response is not None):
        out.kind = KIND_LLM
    return out


def _body(event: EventView) -> Mapping[str, Any]:
    body = event.body
    if isinstance(body, Mapping):
        return body
    # Span-event form of the same events: the body's fields as attributes.
    return event.attributes


def read_message_events(events: Sequence[EventView]) -> Fields:
    """The older events: one per message sent (``gen_ai.{role}.message``) and one per
    choice (``gen_ai.choice``), as span events or log records."""
    out = Fields()
    messages: list[dict[str, Any]] = []
    choices: list[tuple[int, dict[str, Any], str | None]] = []
    for event in events:
        name = event.name
        if name not in DIALECT_EVENTS or name == _DETAILS:
            continue
        body = _body(event)
        if name == "gen_ai.choice":
            msg = body.get("message")
            msg = loads(msg) if isinstance(msg, str) else msg
            norm = normalize_message(
                {"role": "assistant", **msg} if isinstance(msg, Mapping) else {"role": "assistant"}
            )
            reason = body.get("finish_reason")
            index = body.get("index")
            choices.append(
                (
                    index if isinstance(index, int) else len(choices),
                    norm or {"role": "assistant", "content": ""},
                    reason if isinstance(reason, str) else None,
                )
            )
            continue
        role = name[len("gen_ai.") : -len(".message")]
        raw = {"role": body.get("role") or role, "content": body.get("content")}
        if body.get("tool_calls"):
            raw["tool_calls"] = loads(body["tool_calls"]) or body["tool_calls"]
        if role == "tool" and isinstance(body.get("id"), str):
            raw["tool_call_id"] = body["id"]
        norm = normalize_message(raw)
        if norm is not None:
            messages.append(norm)
    if messages:
        out.messages = messages
    if choices:
        choices.sort(key=lambda c: c[0])
        first = choices[0][1]
        out.response = str(first.get("content", ""))
        if first.get("tool_calls"):
            out.tool_calls = list(first["tool_calls"])
        reasons = tuple(r for _, _, r in choices if r)
        if reasons:
            out.finish_reasons = reasons
    if messages or choices:
        out.kind = KIND_LLM
    for event in events:
        if event.name in DIALECT_EVENTS and event.name != _DETAILS:
            SCALARS.read(event.attributes, out)
    return out


def _read_events(view: SpanView) -> Fields:
    return read_message_events(view.events)


GENAI: Final = Dialect(
    name="gen_ai",
    rank=0,
    read=read_current,
    marker_keys=frozenset(
        {
            "gen_ai.operation.name",
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.provider.name",
        }
    ),
    marker_events=frozenset({_DETAILS}),
)
"""Current GenAI conventions (OpenTelemetry's openai-v2 with the latest conventions,
OpenLLMetry 0.40+, Logfire 4+, Pydantic AI 1.x with instrumentation version 2+)."""

MESSAGE_EVENTS: Final = Dialect(
    name="gen_ai_events",
    rank=5,
    read=_read_events,
    marker_events=DIALECT_EVENTS - {_DETAILS},
)
"""The older per-message events (openai-v2 without the latest conventions)."""
