"""Records to span attributes: what our spans carry (the reverse is ``_spans``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring as _encode_basestring
from typing import Any, Final

from opentelemetry.trace import Link
from opentelemetry.util.types import AttributeValue

from rlhf_otel import attributes as A
from rlhf_otel.recording._drafts import FeedbackDraft, InteractionDraft
from rlhf_otel.records import (
    Feedback,
    FeedbackType,
    Interaction,
    data_class,
    json_default,
    span_context_of,
)

__all__ = [
    "FEEDBACK_EVENT_NAMES",
    "INTERACTION_OPERATIONS",
    "MODEL_SOURCES",
    "dumps",
    "evaluator_type",
    "feedback_links",
    "feedback_to_attributes",
    "interaction_span_name",
    "interaction_to_attributes",
    "message_to_otel",
]

INTERACTION_OPERATIONS: Final = frozenset({"chat", "text_completion", "generate_content"})
FEEDBACK_EVENT_NAMES: Final = frozenset({A.GEN_AI_EVALUATION_RESULT, A.RLHF_FEEDBACK_EVENT})
"""Span events that carry feedback: the conventions' name, and the one earlier releases wrote."""
KNOWN_PARAMS: Final = {
    "temperature": A.GEN_AI_REQUEST_TEMPERATURE,
    "max_tokens": A.GEN_AI_REQUEST_MAX_TOKENS,
    "top_p": A.GEN_AI_REQUEST_TOP_P,
}


def dumps(value: object) -> str:
    """Compact JSON that never raises on odd values (they become their ``repr``)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=json_default)


def _json_str(text: str) -> str:
    """A JSON string literal, exactly as ``dumps`` writes it."""
    return _encode_basestring(text)


# ----------------------------------------------------------------------------- messages


def message_to_otel(msg: Mapping[str, Any]) -> dict[str, Any]:
    """A ``{role, content, tool_calls?, tool_call_id?}`` message in the GenAI parts form."""
    parts: list[dict[str, Any]] = []
    content = msg.get("content")
    if isinstance(content, str) and content:
        parts.append({"type": "text", "content": content})
    for call in msg.get("tool_calls") or ():
        # OpenAI nests name/arguments under "function" and says type "function".
        function = call.get("function") if isinstance(call.get("function"), Mapping) else call
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": function.get("arguments"),
            }
        )
    if msg.get("tool_call_id") is not None:
        parts = [{"type": "tool_call_response", "id": msg["tool_call_id"], "response": content}]
    return {"role": msg.get("role", "user"), "parts": parts}


# ----------------------------------------------------------------------------- interactions


def interaction_span_name(model: str | None, operation: str = "chat") -> str:
    """``chat {model}``, or the bare operation when the model is unknown."""
    return f"{operation} {model}" if model else operation


def interaction_to_attributes(
    it: Interaction | InteractionDraft,
    *,
    capture_content: bool = True,
    operation: str = "chat",
    ordered: Sequence[Mapping[str, Any]] | None = None,
    tool_calls: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, AttributeValue]:
    """The attributes of an interaction span (``id``/``timestamp`` come from the span).

    ``ordered``: the input messages in the order they were sent (the prompt among them),
    written as such instead of context-then-prompt; ``tool_calls``: the answer's tool calls,
    written as parts of the output message. Neither changes the record decoded back.
    """
    attrs: dict[str, AttributeValue] = {
        A.GEN_AI_OPERATION_NAME: operation,
        A.RLHF_RECORD_KIND: A.RECORD_KIND_INTERACTION,
    }
    if it.provider:
        attrs[A.GEN_AI_PROVIDER_NAME] = it.provider
    if it.model:
        attrs[A.GEN_AI_REQUEST_MODEL] = it.model
    if it.model_params:
        extra = {}
        for key, value in it.model_params.items():
            name = KNOWN_PARAMS.get(key)
            if name is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                attrs[name] = value
            else:
                extra[key] = value
        if extra:
            attrs[A.RLHF_MODEL_PARAMS] = dumps(extra)
    if it.latency_ms is not None:
        attrs[A.RLHF_LATENCY_MS] = float(it.latency_ms)
    if it.time_to_first_token_ms is not None:
        attrs[A.RLHF_TTFT_MS] = float(it.time_to_first_token_ms)
        attrs[A.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = it.time_to_first_token_ms / 1000.0
    usage = it.token_usage
    if usage is not None:
        if usage.prompt is not None:
            attrs[A.GEN_AI_USAGE_INPUT_TOKENS] = usage.prompt
        if usage.completion is not None:
            attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.completion
        if usage.total is not None:
            attrs[A.RLHF_USAGE_TOTAL_TOKENS] = usage.total
    if it.user_id:
        attrs[A.USER_ID] = it.user_id
    if it.session_id:
        attrs[A.SESSION_ID] = it.session_id
    if it.metadata:
        attrs[A.RLHF_METADATA] = dumps(it.metadata)
    if it.response_id:
        attrs[A.GEN_AI_RESPONSE_ID] = it.response_id
    if it.finish_reasons:
        attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] = list(it.finish_reasons)
    if it.error_type:
        attrs[A.ERROR_TYPE] = it.error_type
    if capture_content and (ordered or tool_calls):
        _detailed_messages(it, ordered, tool_calls, attrs)
    elif capture_content:
        # Hand-assembled JSON (same bytes as dumps()): this runs on every traced call.
        user = f'{{"role":"user","parts":[{{"type":"text","content":{_json_str(it.prompt)}}}]}}'
        if it.context:
            earlier = ",".join(dumps(message_to_otel(m)) for m in it.context)
            attrs[A.GEN_AI_INPUT_MESSAGES] = f"[{earlier},{user}]"
        else:
            attrs[A.GEN_AI_INPUT_MESSAGES] = f"[{user}]"
        finish = (
            f',"finish_reason":{_json_str(str(it.finish_reasons[0]))}' if it.finish_reasons else ""
        )
        attrs[A.GEN_AI_OUTPUT_MESSAGES] = (
            f'[{{"role":"assistant","parts":[{{"type":"text","content":'
            f"{_json_str(it.response)}}}]{finish}}}]"
        )
    return attrs


def _detailed_messages(
    it: Interaction | InteractionDraft,
    ordered: Sequence[Mapping[str, Any]] | None,
    tool_calls: Sequence[Mapping[str, Any]] | None,
    attrs: dict[str, AttributeValue],
) -> None:
    if ordered:
        inputs = [message_to_otel(m) for m in ordered]
    else:
        inputs = [message_to_otel(m) for m in it.context]
        inputs.append({"role": "user", "parts": [{"type": "text", "content": it.prompt}]})
    attrs[A.GEN_AI_INPUT_MESSAGES] = dumps(inputs)
    output = message_to_otel(
        {"role": "assistant", "content": it.response, "tool_calls": list(tool_calls or ())}
    )
    if not output["parts"]:
        output["parts"] = [{"type": "text", "content": ""}]
    if it.finish_reasons:
        output["finish_reason"] = str(it.finish_reasons[0])
    attrs[A.GEN_AI_OUTPUT_MESSAGES] = dumps([output])


# ----------------------------------------------------------------------------- feedback


_EVALUATION_NAMES: Final = {t: f"rlhf.{t.value}" for t in FeedbackType}


_MODEL_SOURCES: Final = frozenset({"model", "llm", "judge", "llm_judge", "llm-judge", "auto"})
MODEL_SOURCES: Final = tuple(sorted(_MODEL_SOURCES))
"""The feedback sources whose evaluator type is ``model`` (a judge)."""


def evaluator_type(source: str | None) -> str:
    """Who gave feedback, by its source: ``reviewer`` (``review``), ``model`` (a judge:
    ``model``, ``llm``, ``judge``, ``llm_judge``, ``auto``) or ``end_user`` (anything else)."""
    if source == "review":
        return "reviewer"
    if source in _MODEL_SOURCES:
        return "model"
    return "end_user"


def feedback_to_attributes(fb: Feedback | FeedbackDraft) -> dict[str, AttributeValue]:
    """Attributes of a feedback span or event (``timestamp`` comes from the span)."""
    attrs: dict[str, AttributeValue] = {
        A.RLHF_RECORD_KIND: A.RECORD_KIND_FEEDBACK,
        A.RLHF_FEEDBACK_ID: fb.id,
        A.RLHF_FEEDBACK_TYPE: fb.type.value,
        A.RLHF_INTERACTION_ID: fb.interaction_id,
    }
    # Only a comparison has several targets; otherwise rlhf.interaction.id says it all.
    if len(fb.target_ids) > 1:
        attrs[A.RLHF_FEEDBACK_TARGET_IDS] = list(fb.target_ids)
    data = data_class(fb.type).from_data(fb.data)
    data.to_attributes(attrs)
    if fb.user_id:
        attrs[A.USER_ID] = fb.user_id
    if fb.session_id:
        attrs[A.SESSION_ID] = fb.session_id
    if fb.source:
        attrs[A.RLHF_FEEDBACK_SOURCE] = fb.source
    attrs[A.RLHF_FEEDBACK_EVALUATOR_TYPE] = evaluator_type(fb.source)
    if fb.user_id:
        attrs[A.RLHF_FEEDBACK_EVALUATOR_ID] = fb.user_id
    if fb.metadata:
        attrs[A.RLHF_METADATA] = dumps(fb.metadata)
    if fb.supersedes:
        attrs[A.RLHF_FEEDBACK_SUPERSEDES] = fb.supersedes
    attrs[A.GEN_AI_EVALUATION_NAME] = _EVALUATION_NAMES[fb.type]
    data.evaluation(attrs)
    return attrs


def feedback_links(fb: Feedback | FeedbackDraft) -> list[Link]:
    """One link per target whose id encodes a span context, with its role."""
    links: list[Link] = []
    if fb.type is FeedbackType.COMPARATIVE:
        # A tie or both-bad vote has no chosen response: every link is "compared".
        won = fb.data.get("outcome") in (None, "preferred")
        roles = [(fb.data["preferred_response_id"], "chosen" if won else "compared")] + [
            (i, "rejected" if won else "compared") for i in fb.data["compared_response_ids"]
        ]
    else:
        for target in fb.target_ids or (fb.interaction_id,):
            ctx = span_context_of(target)
            if ctx is not None:
                links.append(Link(ctx, {A.RLHF_LINK_ROLE: "target", A.RLHF_INTERACTION_ID: target}))
        return links
    for target, role in roles:
        ctx = span_context_of(target)
        if ctx is not None:
            links.append(Link(ctx, {A.RLHF_LINK_ROLE: role, A.RLHF_INTERACTION_ID: target}))
    return links
