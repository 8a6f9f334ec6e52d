"""Every environment variable rlhf-otel reads, named in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = [
    "ANALYTICS_MEMORY_LIMIT",
    "ANALYTICS_TEMP_DIR",
    "ANALYTICS_THREADS",
    "COLLECT_TOKEN",
    "CONFIG_FIELDS",
    "DATA_DIR",
    "OTEL_CAPTURE_CONTENT",
    "OTEL_PROTOCOL",
    "OTEL_TRACES_PROTOCOL",
    "ZERODB_API_KEY",
    "ZERODB_BASE_URL",
    "ZERODB_PROJECT_ID",
    "ZERODB_SPOOL_DIR",
]

DATA_DIR: Final = "RLHF_OTEL_DATA_DIR"
ZERODB_API_KEY: Final = "ZERODB_API_KEY"
ZERODB_PROJECT_ID: Final = "ZERODB_PROJECT_ID"
ZERODB_BASE_URL: Final = "RLHF_OTEL_ZERODB_BASE_URL"
ZERODB_SPOOL_DIR: Final = "RLHF_OTEL_ZERODB_SPOOL_DIR"
ANALYTICS_MEMORY_LIMIT: Final = "RLHF_OTEL_ANALYTICS_MEMORY_LIMIT"
"""DuckDB ``memory_limit`` of the analytics engine (e.g. ``512MB``, ``2GB``)."""
ANALYTICS_THREADS: Final = "RLHF_OTEL_ANALYTICS_THREADS"
"""Threads of the analytics engine (default: the machine's cores)."""
ANALYTICS_TEMP_DIR: Final = "RLHF_OTEL_ANALYTICS_TEMP_DIR"
"""Where the engine makes its private (0700) spill directory (default: the system temp)."""
COLLECT_TOKEN: Final = "RLHF_OTEL_COLLECT_TOKEN"
"""Bearer token ``rlhf-otel collect`` requires."""
OTEL_CAPTURE_CONTENT: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
OTEL_PROTOCOL: Final = "OTEL_EXPORTER_OTLP_PROTOCOL"
OTEL_TRACES_PROTOCOL: Final = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"

CONFIG_FIELDS: Final[Mapping[str, str]] = {
    "backend": "RLHF_OTEL_BACKEND",
    "data_dir": DATA_DIR,
    "compress": "RLHF_OTEL_COMPRESS",
    "max_file_size_mb": "RLHF_OTEL_MAX_FILE_SIZE_MB",
    "enable_batching": "RLHF_OTEL_ENABLE_BATCHING",
    "batch_size": "RLHF_OTEL_BATCH_SIZE",
    "batch_flush_interval": "RLHF_OTEL_BATCH_FLUSH_INTERVAL",
    "max_queue_size": "RLHF_OTEL_MAX_QUEUE_SIZE",
    "session_timeout": "RLHF_OTEL_SESSION_TIMEOUT",
    "sample_rate": "RLHF_OTEL_SAMPLE_RATE",
    "capture_content": "RLHF_OTEL_CAPTURE_CONTENT",
    "debug": "RLHF_OTEL_DEBUG",
    "zerodb_project_id": ZERODB_PROJECT_ID,
    "zerodb_api_key": ZERODB_API_KEY,
    "zerodb_base_url": ZERODB_BASE_URL,
    "otlp_endpoint": "RLHF_OTEL_OTLP_ENDPOINT",
}
"""``RLHFConfig`` field -> the variable read when the field is not given explicitly."""
