"""analytics: the DuckDB engine, its views, and the figures computed on it (internal package)."""

from __future__ import annotations

from rlhf_otel.analytics._engine import (
    AnalyticsUnavailableError,
    Engine,
    EngineConfig,
    arrow_batches,
    open_engine,
    require_duckdb,
)
from rlhf_otel.analytics._scope import (
    NORM_SQL,
    WSCORE_SQL,
    Where,
    feedback_where,
    interaction_where,
    select_scope,
)
from rlhf_otel.analytics._views import FEEDBACK_COLUMNS, INTERACTION_COLUMNS

__all__ = [
    "FEEDBACK_COLUMNS",
    "INTERACTION_COLUMNS",
    "NORM_SQL",
    "WSCORE_SQL",
    "AnalyticsUnavailableError",
    "Engine",
    "EngineConfig",
    "Where",
    "arrow_batches",
    "feedback_where",
    "interaction_where",
    "open_engine",
    "require_duckdb",
    "select_scope",
]
