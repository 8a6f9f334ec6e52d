"""Recording LLM calls and feedback as spans: the handler every producer uses, the response
reader, and the one mapping between records and span attributes.

Example::

    from rlhf_otel.recording import RecordingHandler, read_response

    handler = logger.recording
    call = handler.start(model="gpt-4o-mini")
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    handler.stop(call, read_response(reply), messages=messages)
"""

from __future__ import annotations

from rlhf_otel.recording._assemble import Assembled, TraceAssembler
from rlhf_otel.recording._build import build_feedback, build_interaction
from rlhf_otel.recording._current import (
    OPEN_SPANS,
    last_interaction_id,
    set_last_interaction_id,
)
from rlhf_otel.recording._dialects import EventView, is_dialect_event, is_dialect_key
from rlhf_otel.recording._drafts import FeedbackDraft, InteractionDraft
from rlhf_otel.recording._encode import (
    FEEDBACK_EVENT_NAMES,
    INTERACTION_OPERATIONS,
    MODEL_SOURCES,
    dumps,
    evaluator_type,
    feedback_links,
    feedback_to_attributes,
    interaction_span_name,
    interaction_to_attributes,
)
from rlhf_otel.recording._extract import extract_messages, extract_prompt
from rlhf_otel.recording._handler import LLMCall, RecordingHandler, RecordSink, prompt_index
from rlhf_otel.recording._providers import UNKNOWN_PROVIDER, infer_provider
from rlhf_otel.recording._response import (
    ChatChunkAccumulator,
    ChunkAccumulator,
    CompletionChunkAccumulator,
    ResponseInfo,
    ResponsesEventAccumulator,
    StreamAccumulator,
    content_text,
    read_chat_completion,
    read_completion,
    read_response,
    read_responses_api,
    read_usage,
    tool_call,
)
from rlhf_otel.recording._spans import (
    ReadableSpanLike,
    SpanRecords,
    carries_records,
    decode_span,
    is_foreign,
    ns_to_datetime,
    records_from_span,
)

__all__ = [
    "Assembled",
    "ChatChunkAccumulator",
    "ChunkAccumulator",
    "CompletionChunkAccumulator",
    "EventView",
    "FEEDBACK_EVENT_NAMES",
    "FeedbackDraft",
    "INTERACTION_OPERATIONS",
    "InteractionDraft",
    "LLMCall",
    "MODEL_SOURCES",
    "OPEN_SPANS",
    "ReadableSpanLike",
    "RecordSink",
    "RecordingHandler",
    "ResponseInfo",
    "ResponsesEventAccumulator",
    "SpanRecords",
    "StreamAccumulator",
    "TraceAssembler",
    "UNKNOWN_PROVIDER",
    "build_feedback",
    "build_interaction",
    "carries_records",
    "content_text",
    "decode_span",
    "dumps",
    "evaluator_type",
    "extract_messages",
    "extract_prompt",
    "feedback_links",
    "feedback_to_attributes",
    "infer_provider",
    "interaction_span_name",
    "interaction_to_attributes",
    "is_dialect_event",
    "is_dialect_key",
    "is_foreign",
    "last_interaction_id",
    "ns_to_datetime",
    "prompt_index",
    "read_chat_completion",
    "read_completion",
    "read_response",
    "read_responses_api",
    "read_usage",
    "records_from_span",
    "set_last_interaction_id",
    "tool_call",
]
