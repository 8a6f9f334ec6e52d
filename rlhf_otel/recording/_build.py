"""The one build of a final, immutable record from a producer's draft (the same values
its span carries)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rlhf_otel.recording._drafts import FeedbackDraft, InteractionDraft
from rlhf_otel.recording._encode import KNOWN_PARAMS, dumps, message_to_otel
from rlhf_otel.recording._spans import message_from_otel, ns_to_datetime
from rlhf_otel.records import Feedback, Interaction, TokenUsage

__all__ = ["build_feedback", "build_interaction", "stored_message", "stored_params"]


def _json_values(value: Mapping[str, Any]) -> Any:
    """``value`` as JSON gives it back (what a reader of the span or the store sees)."""
    return json.loads(dumps(value)) or {}


def _strings(values: Sequence[str] | None) -> tuple[str, ...]:
    if not values:
        return ()
    if type(values) is tuple and all(type(v) is str for v in values):
        return values
    return tuple(str(v) for v in values)


def stored_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Request parameters as stored: the conventions' numeric ones first, the rest as JSON."""
    if not params:
        return {}
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in params.items():
        if key in KNOWN_PARAMS and isinstance(value, (int, float)) and not isinstance(value, bool):
            known[key] = value
        else:
            extra[key] = value
    out = {key: known[key] for key in KNOWN_PARAMS if key in known}
    if extra:
        out.update(_json_values(extra))
    return out


def stored_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A context message as stored (role, text content, tool calls, tool call id)."""
    return message_from_otel(message_to_otel(message))


def build_interaction(
    draft: InteractionDraft,
    *,
    interaction_id: str,
    trace_hex: str,
    span_hex: str,
    start_ns: int,
    capture_content: bool,
) -> Interaction:
    """The final record of ``draft``, equal to what decoding its span gives.

    ``trace_hex``/``span_hex``: the span's ids as 32 and 16 lowercase hex digits;
    ``start_ns``: its start time.
    """
    usage = draft.token_usage
    if (
        usage is not None
        and usage.total is None
        and usage.prompt is not None
        and usage.completion is not None
    ):
        usage = TokenUsage(usage.prompt, usage.completion, usage.prompt + usage.completion)
    if capture_content:
        prompt, response = draft.prompt, draft.response
        context = [stored_message(m) for m in draft.context] if draft.context else []
    else:
        prompt, response, context = "", "", []
    return Interaction(
        id=interaction_id,
        prompt=prompt,
        response=response,
        timestamp=ns_to_datetime(start_ns),
        model=draft.model,
        provider=draft.provider,
        model_params=stored_params(draft.model_params),
        latency_ms=None if draft.latency_ms is None else float(draft.latency_ms),
        token_usage=usage,
        user_id=draft.user_id,
        session_id=draft.session_id,
        context=context,
        metadata=_json_values(draft.metadata) if draft.metadata else {},
        response_id=draft.response_id,
        finish_reasons=_strings(draft.finish_reasons),
        error_type=draft.error_type,
        time_to_first_token_ms=draft.time_to_first_token_ms,
        trace_id=trace_hex,
        span_id=span_hex,
    )


def build_feedback(
    draft: FeedbackDraft, *, start_ns: int, trace_hex: str, span_hex: str
) -> Feedback:
    """The final record of ``draft``, equal to what decoding its span (or event) gives."""
    return Feedback(
        id=draft.id,
        interaction_id=draft.interaction_id,
        type=draft.type,
        data=draft.data,
        timestamp=ns_to_datetime(start_ns),
        user_id=draft.user_id,
        session_id=draft.session_id,
        source=draft.source,
        metadata=_json_values(draft.metadata) if draft.metadata else {},
        target_ids=tuple(draft.target_ids or (draft.interaction_id,)),
        trace_id=trace_hex,
        span_id=span_hex,
        supersedes=draft.supersedes,
    )
