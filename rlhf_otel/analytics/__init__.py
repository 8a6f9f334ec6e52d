"""analytics: internal package."""

from __future__ import annotations

from rlhf_otel.analytics._engine import (
    AnalyticsUnavailableError,
    Engine,
    EngineConfig,
    open_engine,
    require_duckdb,
)

__all__ = [
    "AnalyticsUnavailableError",
    "Engine",
    "EngineConfig",
    "open_engine",
    "require_duckdb",
]
