"""Records to span attributes and back: the one mapping between our data and OpenTelemetry."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from json.encoder import encode_basestring as _encode_basestring
from typing import Any, Final, Protocol

from opentelemetry.trace import Link, SpanContext
from opentelemetry.util.types import AttributeValue

from rlhf_otel import attributes as A
from rlhf_otel.records._ids import format_span_id, span_context_of
from rlhf_otel.records._model import Feedback, FeedbackType, Interaction, TokenUsage

__all__ = [
    "FEEDBACK_EVENT_NAMES",
    "INTERACTION_OPERATIONS",
    "carries_records",
    "ReadableSpanLike",
    "dumps",
    "evaluator_type",
    "feedback_links",
    "feedback_to_attributes",
    "interaction_span_name",
    "interaction_to_attributes",
    "ns_to_datetime",
    "prebuilt_feedback",
    "prebuilt_interaction",
    "records_from_span",
]

INTERACTION_OPERATIONS: Final = frozenset({"chat", "text_completion", "generate_content"})
FEEDBACK_EVENT_NAMES: Final = frozenset({A.GEN_AI_EVALUATION_RESULT, A.RLHF_FEEDBACK_EVENT})
"""Span events that carry feedback: the conventions' name, and the one earlier releases wrote."""
_KNOWN_PARAMS: Final = {
    "temperature": A.GEN_AI_REQUEST_TEMPERATURE,
    "max_tokens": A.GEN_AI_REQUEST_MAX_TOKENS,
    "top_p": A.GEN_AI_REQUEST_TOP_P,
}


def _fallback(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def dumps(value: object) -> str:
    """Compact JSON that never raises on odd values (they become their ``repr``)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_fallback)


def _json_str(text: str) -> str:
    """A JSON string literal, exactly as ``dumps`` writes it."""
    return _encode_basestring(text)


def _loads(value: object, default: Any) -> Any:
    if not isinstance(value, str):
        return default
    if value == "{}":
        return {}
    try:
        return json.loads(value)
    except ValueError:
        return default


# ----------------------------------------------------------------------------- messages


def _message_to_otel(msg: Mapping[str, Any]) -> dict[str, Any]:
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


def _message_from_otel(msg: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"role": msg.get("role", "user")}
    if isinstance(msg.get("content"), str):
        out["content"] = msg["content"]
        return out
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in msg.get("parts") or ():
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("content"), str):
            texts.append(part["content"])
        elif kind == "tool_call":
            calls.append({k: v for k, v in part.items() if k != "type"})
        elif kind == "tool_call_response":
            out["tool_call_id"] = part.get("id")
            response = part.get("response")
            texts.append(response if isinstance(response, str) else dumps(response))
    out["content"] = "".join(texts)
    if calls:
        out["tool_calls"] = calls
    return out


# ----------------------------------------------------------------------------- interactions


def interaction_span_name(model: str | None, operation: str = "chat") -> str:
    """``chat {model}``, or the bare operation when the model is unknown."""
    return f"{operation} {model}" if model else operation


def interaction_to_attributes(
    it: Interaction,
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
            name = _KNOWN_PARAMS.get(key)
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
            earlier = ",".join(dumps(_message_to_otel(m)) for m in it.context)
            attrs[A.GEN_AI_INPUT_MESSAGES] = f"[{earlier},{user}]"
        else:
            attrs[A.GEN_AI_INPUT_MESSAGES] = f"[{user}]"
        finish = (
            f',"finish_reason":{_json_str(str(it.finish_reasons[0]))}'
            if it.finish_reasons
            else ""
        )
        attrs[A.GEN_AI_OUTPUT_MESSAGES] = (
            f'[{{"role":"assistant","parts":[{{"type":"text","content":'
            f"{_json_str(it.response)}}}]{finish}}}]"
        )
    return attrs


def _detailed_messages(
    it: Interaction,
    ordered: Sequence[Mapping[str, Any]] | None,
    tool_calls: Sequence[Mapping[str, Any]] | None,
    attrs: dict[str, AttributeValue],
) -> None:
    if ordered:
        inputs = [_message_to_otel(m) for m in ordered]
    else:
        inputs = [_message_to_otel(m) for m in it.context]
        inputs.append({"role": "user", "parts": [{"type": "text", "content": it.prompt}]})
    attrs[A.GEN_AI_INPUT_MESSAGES] = dumps(inputs)
    output = _message_to_otel(
        {"role": "assistant", "content": it.response, "tool_calls": list(tool_calls or ())}
    )
    if not output["parts"]:
        output["parts"] = [{"type": "text", "content": ""}]
    if it.finish_reasons:
        output["finish_reason"] = str(it.finish_reasons[0])
    attrs[A.GEN_AI_OUTPUT_MESSAGES] = dumps([output])


def _split_prompt(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    decoded = [_message_from_otel(m) for m in messages if isinstance(m, Mapping)]
    for i in range(len(decoded) - 1, -1, -1):
        if decoded[i]["role"] == "user":
            return str(decoded[i].get("content", "")), decoded[:i] + decoded[i + 1 :]
    return "", decoded


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def ns_to_datetime(ns: int | None) -> datetime:
    """A span timestamp (ns since the epoch) as an aware UTC datetime."""
    if ns is None:
        return datetime.now(timezone.utc)
    return datetime.fromtimestamp(ns / 1e9, timezone.utc)


class _ContextLike(Protocol):
    trace_id: int
    span_id: int


class _EventLike(Protocol):
    name: str
    attributes: Mapping[str, Any] | None
    timestamp: int


class ReadableSpanLike(Protocol):
    """What the exporter needs of a span (``ReadableSpan`` and decoded OTLP spans fit)."""

    @property
    def name(self) -> str: ...

    @property
    def attributes(self) -> Mapping[str, Any] | None: ...

    @property
    def events(self) -> Sequence[Any]: ...

    @property
    def start_time(self) -> int | None: ...

    @property
    def end_time(self) -> int | None: ...

    def get_span_context(self) -> Any: ...


def _interaction_from_span(
    span: ReadableSpanLike, attrs: Mapping[str, Any], ctx: _ContextLike
) -> Interaction:
    trace_hex, span_hex = f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"
    interaction_id = attrs.get(A.RLHF_INTERACTION_ID) or f"{trace_hex}-{span_hex}"
    prompt, context = _split_prompt(_loads(attrs.get(A.GEN_AI_INPUT_MESSAGES), []) or [])
    outputs = _loads(attrs.get(A.GEN_AI_OUTPUT_MESSAGES), []) or []
    response = "".join(
        str(_message_from_otel(m).get("content", "")) for m in outputs if isinstance(m, Mapping)
    )
    params: dict[str, Any] = {
        key: attrs[name] for key, name in _KNOWN_PARAMS.items() if name in attrs
    }
    params.update(_loads(attrs.get(A.RLHF_MODEL_PARAMS), {}) or {})
    latency = attrs.get(A.RLHF_LATENCY_MS)
    # Our own spans say when latency is unknown; a foreign span's duration is its latency.
    if (
        latency is None
        and A.RLHF_RECORD_KIND not in attrs
        and span.start_time is not None
        and span.end_time is not None
    ):
        latency = (span.end_time - span.start_time) / 1e6
    input_tokens = _int_or_none(attrs.get(A.GEN_AI_USAGE_INPUT_TOKENS))
    output_tokens = _int_or_none(attrs.get(A.GEN_AI_USAGE_OUTPUT_TOKENS))
    total = _int_or_none(attrs.get(A.RLHF_USAGE_TOTAL_TOKENS))
    if total is None and input_tokens is not None and output_tokens is not None:
        total = input_tokens + output_tokens
    usage = (
        None
        if input_tokens is None and output_tokens is None and total is None
        else TokenUsage(input_tokens, output_tokens, total)
    )
    finish = attrs.get(A.GEN_AI_RESPONSE_FINISH_REASONS) or ()
    return Interaction(
        id=str(interaction_id),
        prompt=prompt,
        response=response,
        timestamp=ns_to_datetime(span.start_time),
        model=attrs.get(A.GEN_AI_REQUEST_MODEL) or attrs.get(A.GEN_AI_RESPONSE_MODEL),
        provider=attrs.get(A.GEN_AI_PROVIDER_NAME) or attrs.get(A.GEN_AI_SYSTEM),
        model_params=params,
        latency_ms=float(latency) if latency is not None else None,
        token_usage=usage,
        user_id=attrs.get(A.USER_ID),
        session_id=attrs.get(A.SESSION_ID),
        context=context,
        metadata=_loads(attrs.get(A.RLHF_METADATA), {}) or {},
        response_id=attrs.get(A.GEN_AI_RESPONSE_ID),
        finish_reasons=tuple(str(f) for f in finish),
        error_type=attrs.get(A.ERROR_TYPE),
        time_to_first_token_ms=attrs.get(A.RLHF_TTFT_MS),
        trace_id=trace_hex,
        span_id=span_hex,
    )


def prebuilt_interaction(
    draft: Interaction,
    attrs: Mapping[str, Any],
    *,
    interaction_id: str,
    trace_hex: str,
    span_hex: str,
    start_ns: int,
    capture_content: bool,
) -> Interaction:
    """Turn ``draft`` (ours, not shared) into exactly the record that decoding the span
    built from it and ``attrs`` gives; updated in place, which is cheapest on this path.
    ``trace_hex``/``span_hex``: the span's ids as 32 and 16 lowercase hex digits."""
    params: dict[str, Any] = {}
    if draft.model_params:
        params = {key: attrs[name] for key, name in _KNOWN_PARAMS.items() if name in attrs}
        if A.RLHF_MODEL_PARAMS in attrs:
            params.update(_loads(attrs[A.RLHF_MODEL_PARAMS], {}) or {})
    usage = draft.token_usage
    if usage is not None and usage.total is None and None not in (usage.prompt, usage.completion):
        usage = TokenUsage(usage.prompt, usage.completion, usage.prompt + usage.completion)  # type: ignore[operator]
    draft.id = interaction_id
    draft.timestamp = ns_to_datetime(start_ns)
    if not capture_content:
        draft.prompt, draft.response, draft.context = "", "", []
    elif draft.context:
        draft.context = [_message_from_otel(_message_to_otel(m)) for m in draft.context]
    else:
        draft.context = []
    draft.model_params = params
    draft.metadata = _loads(attrs[A.RLHF_METADATA], {}) or {} if A.RLHF_METADATA in attrs else {}
    if draft.latency_ms is not None:
        draft.latency_ms = float(draft.latency_ms)
    draft.token_usage = usage
    if draft.finish_reasons:
        draft.finish_reasons = tuple(str(f) for f in draft.finish_reasons)
    else:
        draft.finish_reasons = ()
    draft.trace_id = trace_hex
    draft.span_id = span_hex
    return draft


def prebuilt_feedback(
    draft: Feedback, attrs: Mapping[str, Any], start_ns: int, trace_id: int, span_id: int
) -> Feedback:
    """Turn ``draft`` (ours, not shared) into exactly the record that decoding its span
    gives, in place."""
    draft.timestamp = ns_to_datetime(start_ns)
    draft.metadata = _loads(attrs[A.RLHF_METADATA], {}) or {} if A.RLHF_METADATA in attrs else {}
    draft.target_ids = tuple(draft.target_ids or (draft.interaction_id,))
    draft.trace_id = f"{trace_id:032x}"
    draft.span_id = f"{span_id:016x}"
    return draft


# ----------------------------------------------------------------------------- feedback


_EVALUATION_NAMES: Final = {t: f"rlhf.{t.value}" for t in FeedbackType}


def _evaluation(fb: Feedback, out: dict[str, AttributeValue]) -> None:
    d = fb.data
    out[A.GEN_AI_EVALUATION_NAME] = _EVALUATION_NAMES[fb.type]
    if fb.type is FeedbackType.BINARY:
        out[A.GEN_AI_EVALUATION_SCORE_VALUE] = 1.0 if d["value"] == "thumbs_up" else 0.0
        out[A.GEN_AI_EVALUATION_SCORE_LABEL] = d["value"]
    elif fb.type is FeedbackType.RATING:
        out[A.GEN_AI_EVALUATION_SCORE_VALUE] = float(d["rating"])
        out[A.GEN_AI_EVALUATION_SCORE_LABEL] = f"{d['rating']:g}/{d['max_rating']:g}"
        if d.get("comment"):
            out[A.GEN_AI_EVALUATION_EXPLANATION] = d["comment"]
    elif fb.type is FeedbackType.TEXT:
        if d.get("sentiment"):
            out[A.GEN_AI_EVALUATION_SCORE_LABEL] = d["sentiment"]
        out[A.GEN_AI_EVALUATION_EXPLANATION] = d["comment"]
    elif fb.type is FeedbackType.MULTI_DIMENSIONAL:
        dims: Mapping[str, float] = d["dimensions"]
        weights: Mapping[str, float] = d.get("weights") or {k: 1.0 for k in dims}
        total_w = sum(weights.values())
        if dims and total_w > 0:
            score = sum(dims[k] * weights.get(k, 0.0) for k in dims) / total_w
            out[A.GEN_AI_EVALUATION_SCORE_VALUE] = float(score)
        if d.get("overall_comment"):
            out[A.GEN_AI_EVALUATION_EXPLANATION] = d["overall_comment"]
    else:
        if d.get("confidence_level") is not None:
            out[A.GEN_AI_EVALUATION_SCORE_VALUE] = float(d["confidence_level"])
        out[A.GEN_AI_EVALUATION_SCORE_LABEL] = "preferred"
        if d.get("reason"):
            out[A.GEN_AI_EVALUATION_EXPLANATION] = d["reason"]


_MODEL_SOURCES: Final = frozenset({"model", "llm", "judge", "llm_judge", "llm-judge", "auto"})


def evaluator_type(source: str | None) -> str:
    """Who gave feedback, by its source: ``reviewer`` (``review``), ``model`` (a judge:
    ``model``, ``llm``, ``judge``, ``llm_judge``, ``auto``) or ``end_user`` (anything else)."""
    if source == "review":
        return "reviewer"
    if source in _MODEL_SOURCES:
        return "model"
    return "end_user"


def feedback_to_attributes(fb: Feedback) -> dict[str, AttributeValue]:
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
    d = fb.data
    if fb.type is FeedbackType.BINARY:
        attrs[A.RLHF_FEEDBACK_VALUE] = d["value"]
    elif fb.type is FeedbackType.RATING:
        attrs[A.RLHF_FEEDBACK_RATING] = float(d["rating"])
        if d.get("min_rating", 1) != 1:
            attrs[A.RLHF_FEEDBACK_MIN_RATING] = float(d["min_rating"])
        attrs[A.RLHF_FEEDBACK_MAX_RATING] = float(d["max_rating"])
        if d.get("comment") is not None:
            attrs[A.RLHF_FEEDBACK_COMMENT] = d["comment"]
    elif fb.type is FeedbackType.TEXT:
        attrs[A.RLHF_FEEDBACK_COMMENT] = d["comment"]
        if d.get("sentiment") is not None:
            attrs[A.RLHF_FEEDBACK_SENTIMENT] = d["sentiment"]
    elif fb.type is FeedbackType.MULTI_DIMENSIONAL:
        attrs[A.RLHF_FEEDBACK_DIMENSIONS] = dumps(d["dimensions"])
        if d.get("weights") is not None:
            attrs[A.RLHF_FEEDBACK_WEIGHTS] = dumps(d["weights"])
        if d.get("overall_comment") is not None:
            attrs[A.RLHF_FEEDBACK_COMMENT] = d["overall_comment"]
    else:
        attrs[A.RLHF_FEEDBACK_PREFERRED_ID] = d["preferred_response_id"]
        attrs[A.RLHF_FEEDBACK_COMPARED_IDS] = list(d["compared_response_ids"])
        if d.get("reason") is not None:
            attrs[A.RLHF_FEEDBACK_REASON] = d["reason"]
        if d.get("confidence_level") is not None:
            attrs[A.RLHF_FEEDBACK_CONFIDENCE] = float(d["confidence_level"])
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
    _evaluation(fb, attrs)
    return attrs


def feedback_links(fb: Feedback) -> list[Link]:
    """One link per target whose id encodes a span context, with its role."""
    links: list[Link] = []
    if fb.type is FeedbackType.COMPARATIVE:
        roles = [(fb.data["preferred_response_id"], "chosen")] + [
            (i, "rejected") for i in fb.data["compared_response_ids"]
        ]
    else:
        roles = [(t, "target") for t in (fb.target_ids or (fb.interaction_id,))]
    for target, role in roles:
        ctx = span_context_of(target)
        if ctx is not None:
            links.append(Link(ctx, {A.RLHF_LINK_ROLE: role, A.RLHF_INTERACTION_ID: target}))
    return links


def _num(value: object) -> float | int:
    assert isinstance(value, (int, float))
    f = float(value)
    return int(f) if f.is_integer() and math.isfinite(f) else f


def _feedback_from_attributes(
    attrs: Mapping[str, Any], timestamp_ns: int | None, ctx: _ContextLike | None
) -> Feedback:
    ftype = FeedbackType(attrs[A.RLHF_FEEDBACK_TYPE])
    data: dict[str, Any]
    if ftype is FeedbackType.BINARY:
        data = {"value": attrs[A.RLHF_FEEDBACK_VALUE]}
    elif ftype is FeedbackType.RATING:
        data = {
            "rating": _num(attrs[A.RLHF_FEEDBACK_RATING]),
            "min_rating": _num(attrs.get(A.RLHF_FEEDBACK_MIN_RATING, 1)),
            "max_rating": _num(attrs[A.RLHF_FEEDBACK_MAX_RATING]),
            "comment": attrs.get(A.RLHF_FEEDBACK_COMMENT),
        }
    elif ftype is FeedbackType.TEXT:
        data = {
            "comment": attrs[A.RLHF_FEEDBACK_COMMENT],
            "sentiment": attrs.get(A.RLHF_FEEDBACK_SENTIMENT),
        }
    elif ftype is FeedbackType.MULTI_DIMENSIONAL:
        data = {
            "dimensions": _loads(attrs[A.RLHF_FEEDBACK_DIMENSIONS], {}),
            "weights": _loads(attrs.get(A.RLHF_FEEDBACK_WEIGHTS), None),
            "overall_comment": attrs.get(A.RLHF_FEEDBACK_COMMENT),
        }
    else:
        confidence = attrs.get(A.RLHF_FEEDBACK_CONFIDENCE)
        data = {
            "preferred_response_id": attrs[A.RLHF_FEEDBACK_PREFERRED_ID],
            "compared_response_ids": list(attrs[A.RLHF_FEEDBACK_COMPARED_IDS]),
            "reason": attrs.get(A.RLHF_FEEDBACK_REASON),
            "confidence_level": None if confidence is None else float(confidence),
        }
    interaction_id = str(attrs[A.RLHF_INTERACTION_ID])
    return Feedback(
        id=str(attrs[A.RLHF_FEEDBACK_ID]),
        interaction_id=interaction_id,
        type=ftype,
        data=data,
        timestamp=ns_to_datetime(timestamp_ns),
        user_id=attrs.get(A.USER_ID),
        session_id=attrs.get(A.SESSION_ID),
        source=attrs.get(A.RLHF_FEEDBACK_SOURCE),
        metadata=_loads(attrs.get(A.RLHF_METADATA), {}) or {},
        target_ids=tuple(attrs.get(A.RLHF_FEEDBACK_TARGET_IDS) or (interaction_id,)),
        trace_id=None if ctx is None else f"{ctx.trace_id:032x}",
        span_id=None if ctx is None else f"{ctx.span_id:016x}",
        supersedes=attrs.get(A.RLHF_FEEDBACK_SUPERSEDES),
    )


def is_interaction_span(attrs: Mapping[str, Any]) -> bool:
    """Ours, or a GenAI-convention span from another instrumentation library."""
    kind = attrs.get(A.RLHF_RECORD_KIND)
    if kind is not None:
        return bool(kind == A.RECORD_KIND_INTERACTION)
    return attrs.get(A.GEN_AI_OPERATION_NAME) in INTERACTION_OPERATIONS


def carries_records(span: ReadableSpanLike) -> bool:
    """Whether a span may hold an interaction or feedback (a cheap test, before decoding)."""
    attrs = span.attributes
    if attrs and (A.RLHF_RECORD_KIND in attrs or A.GEN_AI_OPERATION_NAME in attrs):
        return True
    return any(e.name in FEEDBACK_EVENT_NAMES for e in span.events)


def records_from_span(
    span: ReadableSpanLike, prebuilt: Interaction | Feedback | None = None
) -> tuple[Interaction | None, list[Feedback]]:
    """The interaction a span is (if any) and the feedback it carries (span or events).

    ``prebuilt`` is the record our own recording handler already built for this span
    (exactly what decoding gives), which spares the decoding.

    Raises:
        KeyError, ValueError, TypeError: the span claims to be ours but is malformed.
    """
    ctx = span.get_span_context()
    feedback: list[Feedback] = []
    interaction: Interaction | None = None
    # One copy: the SDK's attribute mapping is slow to query key by key.
    attrs = dict(span.attributes or {}) if prebuilt is None else {}
    if isinstance(prebuilt, Interaction):
        interaction = prebuilt
    elif isinstance(prebuilt, Feedback):
        feedback.append(prebuilt)
    elif attrs.get(A.RLHF_RECORD_KIND) == A.RECORD_KIND_FEEDBACK:
        feedback.append(_feedback_from_attributes(attrs, span.start_time, ctx))
    elif is_interaction_span(attrs):
        interaction = _interaction_from_span(span, attrs, ctx)
    for event in span.events:
        if event.name in FEEDBACK_EVENT_NAMES and event.attributes:
            feedback.append(_feedback_from_attributes(dict(event.attributes), event.timestamp, ctx))
    return interaction, feedback


def context_ids(ctx: SpanContext) -> str:
    """The interaction id of a span context."""
    return format_span_id(ctx.trace_id, ctx.span_id)
