"""Names of the environment variables read outside the logger configuration."""

from __future__ import annotations

from typing import Final

__all__ = [
    "ANALYTICS_MEMORY_LIMIT",
    "ANALYTICS_TEMP_DIR",
    "ANALYTICS_THREADS",
]

ANALYTICS_MEMORY_LIMIT: Final = "RLHF_OTEL_ANALYTICS_MEMORY_LIMIT"
"""DuckDB ``memory_limit`` of the analytics engine (e.g. ``512MB``, ``2GB``)."""
ANALYTICS_THREADS: Final = "RLHF_OTEL_ANALYTICS_THREADS"
"""Threads of the analytics engine (default: the machine's cores)."""
ANALYTICS_TEMP_DIR: Final = "RLHF_OTEL_ANALYTICS_TEMP_DIR"
"""Where the engine makes its private (0700) spill directory (default: the system temp)."""
