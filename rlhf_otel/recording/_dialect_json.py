"""Dialects that keep a call's request and answer as JSON documents: Logfire's version-1
attributes (``request_data``/``response_data``/``events``), Pydantic AI's agent runs
(``pydantic_ai.all_messages``/``final_result``) and MLflow (``mlflow.spanInputs``/
``mlflow.spanOutputs``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from rlhf_otel.recording._dialect_genai import read_message_events
from rlhf_otel.recording._dialects import (
    KIND_LLM,
    KIND_WRAPPER,
    Dialect,
    EventView,
    Fields,
    Scalars,
    SpanView,
    as_int,
    loads,
    normalize_message,
    normalize_messages,
    text_of,
)

__all__ = ["LOGFIRE", "MLFLOW"]


def _usage(doc: Any, out: Fields) -> None:
    if not isinstance(doc, Mapping):
        return
    pairs = (
        ("input_tokens", ("prompt_tokens", "input_tokens")),
        ("output_tokens", ("completion_tokens", "output_tokens")),
        ("total_tokens", ("total_tokens",)),
    )
    for name, keys in pairs:
        if getattr(out, name) is None:
            for key in keys:
                n = as_int(doc.get(key))
                if n is not None:
                    setattr(out, name, n)
                    break


def _chat_answer(doc: Any, out: Fields) -> None:
    """An OpenAI chat completion (or Anthropic message) as a dict, into the answer fields."""
    if not isinstance(doc, Mapping):
        return
    choices = doc.get("choices")
    message: Any = doc.get("message")
    reason: Any = doc.get("finish_reason") or doc.get("stop_reason")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        message = choices[0].get("message")
        reason = choices[0].get("finish_reason")
    elif doc.get("type") == "message" and "content" in doc:  # Anthropic
        message = {"role": "assistant", "content": doc.get("content")}
    if isinstance(message, Mapping):
        norm = normalize_message({"role": "assistant", **message})
        if norm is not None:
            out.response = str(norm.get("content", ""))
            if norm.get("tool_calls"):
                out.tool_calls = list(norm["tool_calls"])
    elif isinstance(doc.get("combined_chunk_content"), str):
        out.response = doc["combined_chunk_content"]
    elif isinstance(doc.get("text"), str):
        out.response = doc["text"]
    if isinstance(reason, str) and out.finish_reasons is None:
        out.finish_reasons = (reason,)
    if isinstance(doc.get("id"), str):
        out.response_id = doc["id"]
    if isinstance(doc.get("model"), str):
        out.response_model = doc["model"]
    _usage(doc.get("usage"), out)


# ----------------------------------------------------------------------------- Logfire


def _events_attr(value: Any) -> list[EventView]:
    doc = loads(value)
    if not isinstance(doc, list):
        return []
    return [
        EventView(str(e["event.name"]), {}, e)
        for e in doc
        if isinstance(e, Mapping) and isinstance(e.get("event.name"), str)
    ]


def read_logfire(view: SpanView) -> Fields:
    """Logfire's version-1 LLM attributes and Pydantic AI's run and request spans."""
    attrs = view.attributes
    out = Fields()
    events = _events_attr(attrs.get("events"))
    if events:
        out = read_message_events(events)
    request = loads(attrs.get("request_data"))
    if isinstance(request, Mapping):
        if out.messages is None:
            messages = normalize_messages(request.get("messages"))
            if messages is not None:
                out.messages = messages
            elif isinstance(request.get("prompt"), str):
                out.messages = [{"role": "user", "content": request["prompt"]}]
        if isinstance(request.get("model"), str):
            out.model = request["model"]
    if out.response is None:
        _chat_answer(loads(attrs.get("response_data")), out)
    all_messages = normalize_messages(attrs.get("pydantic_ai.all_messages"))
    if all_messages is not None and out.messages is None:
        last_user = max((i for i, m in enumerate(all_messages) if m["role"] == "user"), default=-1)
        out.messages = all_messages[: last_user + 1] if last_user >= 0 else all_messages
        out.kind = KIND_WRAPPER
        final = attrs.get("final_result")
        if isinstance(final, str):
            out.response = final
        elif final is not None:
            out.response = text_of(final) or str(final)
        elif last_user + 1 < len(all_messages):
            out.response = str(all_messages[-1].get("content", ""))
    if (
        attrs.get("logfire.span_type") == "span"
        and "gen_ai.operation.name" in attrs
        and "gen_ai.output.messages" not in attrs
        and "response_data" not in attrs
        and "gen_ai.response.id" not in attrs
        and not any(e.name == "exception" for e in view.events)
    ):
        # A streamed call's request span: its answer is the "streaming response" record
        # Logfire writes beside it when the stream ends (the same call, counted once).
        out.kind = "skip:logfire:stream_request"
    if out.kind is None and (out.messages is not None or out.response is not None):
        out.kind = KIND_LLM
    return out


LOGFIRE: Final = Dialect(
    name="logfire",
    rank=30,
    read=read_logfire,
    marker_keys=frozenset(
        {"request_data", "response_data", "pydantic_ai.all_messages", "model_request_parameters"}
    ),
)
"""Logfire's OpenAI/Anthropic integrations (version 1 attributes) and Pydantic AI."""

# ----------------------------------------------------------------------------- MLflow

_MLFLOW: Final = Scalars(
    model=("mlflow.llm.model",),
    provider=("mlflow.llm.provider",),
    user_id=("mlflow.trace.user",),
    session_id=("mlflow.trace.session",),
)
_MLFLOW_LLM: Final = frozenset({"LLM", "CHAT_MODEL"})
_MLFLOW_WRAPPERS: Final = frozenset({"CHAIN", "AGENT", "WORKFLOW", "TASK", "UNKNOWN"})


def _unquote(value: Any) -> Any:
    """MLflow writes every attribute as JSON, strings included (``"\\"LLM\\""``)."""
    if isinstance(value, str) and value[:1] == '"':
        doc = loads(value)
        return doc if isinstance(doc, str) else value
    return value


def read_mlflow(view: SpanView) -> Fields:
    """MLflow tracing: the span type, its JSON inputs and outputs, token usage."""
    attrs = {k: _unquote(v) for k, v in view.attributes.items() if k.startswith("mlflow.")}
    out = Fields()
    kind = str(attrs.get("mlflow.spanType") or "").upper()
    if kind in _MLFLOW_LLM:
        out.kind = KIND_LLM
    elif kind in _MLFLOW_WRAPPERS:
        out.kind = KIND_WRAPPER
    elif kind:
        out.kind = f"skip:mlflow:{kind.lower()}"
    inputs = loads(view.attributes.get("mlflow.spanInputs"))
    if isinstance(inputs, Mapping):
        messages = normalize_messages(inputs.get("messages"))
        if messages is not None:
            out.messages = messages
        else:
            for key in ("prompt", "input", "question", "query", "text"):
                if isinstance(inputs.get(key), str):
                    out.messages = [{"role": "user", "content": inputs[key]}]
                    break
        if isinstance(inputs.get("model"), str):
            out.model = inputs["model"]
        known = {k: inputs[k] for k in ("temperature", "max_tokens", "top_p") if k in inputs}
        if known:
            out.params = known
    elif isinstance(inputs, str):
        out.messages = [{"role": "user", "content": inputs}]
    outputs = loads(view.attributes.get("mlflow.spanOutputs"))
    if isinstance(outputs, Mapping):
        _chat_answer(outputs, out)
        if out.response is None:
            for key in ("output", "answer", "content", "text", "result"):
                if isinstance(outputs.get(key), str):
                    out.response = outputs[key]
                    break
    elif isinstance(outputs, str):
        out.response = outputs
    _usage(loads(view.attributes.get("mlflow.chat.tokenUsage")), out)
    _MLFLOW.read(attrs, out)
    return out


MLFLOW: Final = Dialect(
    name="mlflow",
    rank=40,
    read=read_mlflow,
    marker_keys=frozenset({"mlflow.spanType", "mlflow.spanInputs", "mlflow.spanOutputs"}),
)
"""MLflow tracing (its autologging integrations and ``@mlflow.trace``)."""
