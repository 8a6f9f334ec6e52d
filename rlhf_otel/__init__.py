"""rlhf-otel: human feedback on LLM answers as OpenTelemetry spans, turned into training data.

Example::

    import rlhf_otel

    with rlhf_otel.create_rlhf_logger(backend="memory") as logger:
        iid = logger.log_interaction("What is 2+2?", "4", model="gpt-4o", latency=120)
        logger.log_binary_feedback(iid, rlhf_otel.BinaryFeedback.THUMBS_UP)
        print(logger.get_feedback_stats().binary)
"""

from __future__ import annotations

from rlhf_otel._config import RLHFConfig
from rlhf_otel._decorator import trace_llm
from rlhf_otel._errors import ConfigurationError, RLHFError, StoreError, ValidationError
from rlhf_otel._logger import RLHFLogger, create_rlhf_logger, default_logger
from rlhf_otel._redact import Redactor, redact_secrets
from rlhf_otel.pipeline import RLHFSpanExporter, RLHFSpanProcessor
from rlhf_otel.recording import (
    LLMCall,
    RecordingHandler,
    ResponseInfo,
    last_interaction_id,
    read_response,
)
from rlhf_otel.records import (
    BinaryFeedback,
    ExportFormat,
    Feedback,
    FeedbackFilter,
    FeedbackSession,
    FeedbackStats,
    FeedbackType,
    Interaction,
    InteractionFilter,
    Sentiment,
    StorageBackend,
    TokenUsage,
)

__version__ = "0.2.0"

__all__ = [
    "BinaryFeedback",
    "ConfigurationError",
    "ExportFormat",
    "Feedback",
    "FeedbackFilter",
    "FeedbackSession",
    "FeedbackStats",
    "FeedbackType",
    "Interaction",
    "InteractionFilter",
    "LLMCall",
    "RLHFConfig",
    "RLHFError",
    "RLHFLogger",
    "RLHFSpanExporter",
    "RLHFSpanProcessor",
    "RecordingHandler",
    "Redactor",
    "ResponseInfo",
    "Sentiment",
    "StorageBackend",
    "StoreError",
    "TokenUsage",
    "ValidationError",
    "create_rlhf_logger",
    "default_logger",
    "last_interaction_id",
    "read_response",
    "redact_secrets",
    "trace_llm",
]
