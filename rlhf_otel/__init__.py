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
from rlhf_otel._logger import RLHFLogger, create_rlhf_logger
from rlhf_otel._redact import Redactor, redact_secrets
from rlhf_otel.pipeline._exporter import RLHFSpanExporter
from rlhf_otel.pipeline._processor import RLHFSpanProcessor
from rlhf_otel.recording._current import last_interaction_id
from rlhf_otel.records._model import (
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
)
from rlhf_otel.records._stats import FeedbackStats

__version__ = "0.1.0"

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
    "RLHFConfig",
    "RLHFError",
    "RLHFLogger",
    "RLHFSpanExporter",
    "RLHFSpanProcessor",
    "Redactor",
    "Sentiment",
    "StorageBackend",
    "StoreError",
    "TokenUsage",
    "ValidationError",
    "create_rlhf_logger",
    "last_interaction_id",
    "redact_secrets",
    "trace_llm",
]
