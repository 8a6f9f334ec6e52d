"""The record model every other part depends on: records, filters, schema, ids, stats."""

from __future__ import annotations

from rlhf_otel.records._ids import (
    format_span_id,
    new_feedback_id,
    parse_span_id,
    span_context_of,
    validate_id,
)
from rlhf_otel.records._model import (
    SCHEMA_VERSION,
    BinaryFeedback,
    ExportFormat,
    Feedback,
    FeedbackFilter,
    FeedbackSession,
    FeedbackType,
    Interaction,
    InteractionFilter,
    Sentiment,
    StorageBackend,
    TokenUsage,
    utc_now,
)
from rlhf_otel.records._schema import (
    feedback_from_dict,
    feedback_to_dict,
    format_timestamp,
    interaction_from_dict,
    interaction_to_dict,
    parse_timestamp,
    record_from_dict,
)
from rlhf_otel.records._signals import normalized_rating, satisfaction, weighted_score
from rlhf_otel.records._stats import FeedbackStats, StatsAccumulator, compute_stats

__all__ = [
    "SCHEMA_VERSION",
    "BinaryFeedback",
    "ExportFormat",
    "Feedback",
    "FeedbackFilter",
    "FeedbackSession",
    "FeedbackStats",
    "FeedbackType",
    "Interaction",
    "InteractionFilter",
    "Sentiment",
    "StatsAccumulator",
    "StorageBackend",
    "TokenUsage",
    "compute_stats",
    "feedback_from_dict",
    "feedback_to_dict",
    "format_span_id",
    "format_timestamp",
    "interaction_from_dict",
    "interaction_to_dict",
    "new_feedback_id",
    "normalized_rating",
    "parse_span_id",
    "parse_timestamp",
    "record_from_dict",
    "satisfaction",
    "span_context_of",
    "utc_now",
    "validate_id",
    "weighted_score",
]
