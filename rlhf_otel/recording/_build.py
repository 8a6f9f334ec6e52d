"""The one build of a final, immutable record from a producer's draft (the same values
its span carries)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final

from rlhf_otel.recording._construct import slot_builder
from rlhf_otel.recording._drafts import FeedbackDraft, InteractionDraft
from rlhf_otel.recording._encode import KNOWN_PARAMS, dumps, message_to_otel
from rlhf_otel.recording._spans import message_from_otel
from rlhf_otel.records import Feedback, Interaction, TokenUsage

__all__ = ["build_feedback", "build_interaction", "stored_message", "stored_params"]


_UTC: Final = timezone.utc
_from_timestamp: Final = datetime.fromtimestamp
_new_interaction: Final = slot_builder(
    Interaction,
    ("id", "prompt", "response", "timestamp", "model", "provider", "model_params", "latency_ms",
     "token_usage", "user_id", "session_id", "context", "metadata", "response_id",
     "finish_reasons", "error_type", "time_to_first_token_ms", "trace_id", "span_id",
     "feedback_ids"),
)  # fmt: skip
_new_feedback: Final = slot_builder(
    Feedback,
    ("id", "interaction_id", "type", "data", "timestamp", "user_id", "session_id", "source",
     "metadata", "target_ids", "trace_id", "span_id", "supersedes"),
)  # fmt: skip


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
    latency = draft.latency_ms
    return _new_interaction(
        interaction_id,
        prompt,
        response,
        _from_timestamp(start_ns / 1e9, _UTC),
        draft.model,
        draft.provider,
        stored_params(draft.model_params),
        None if latency is None else float(latency),
        usage,
        draft.user_id,
        draft.session_id,
        context,
        _json_values(draft.metadata) if draft.metadata else {},
        draft.response_id,
        _strings(draft.finish_reasons),
        draft.error_type,
        draft.time_to_first_token_ms,
        trace_hex,
        span_hex,
        (),
    )


def build_feedback(
    draft: FeedbackDraft, *, start_ns: int, trace_hex: str, span_hex: str
) -> Feedback:
    """The final record of ``draft``, equal to what decoding its span (or event) gives."""
    targets = draft.target_ids
    return _new_feedback(
        draft.id,
        draft.interaction_id,
        draft.type,
        draft.data,
        _from_timestamp(start_ns / 1e9, _UTC),
        draft.user_id,
        draft.session_id,
        draft.source,
        _json_values(draft.metadata) if draft.metadata else {},
        tuple(targets) if targets else (draft.interaction_id,),
        trace_hex,
        span_hex,
        draft.supersedes,
    )
