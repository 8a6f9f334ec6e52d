"""Analytics over any store: trends, breakdowns, percentiles, rankings, agreement.

They run on one engine, DuckDB (``pip install 'rlhf-otel[analytics]'``), whose views
``interactions`` and ``feedback`` show a store's records (see ``INTERACTION_COLUMNS`` and
``FEEDBACK_COLUMNS``); ``open_engine(store)`` gives the connection for queries of your own.
"""

from __future__ import annotations

from rlhf_otel.analytics._agree import cohen_kappa, fleiss_kappa, krippendorff_alpha
from rlhf_otel.analytics._compute import engine_stats, get_analytics, store_stats
from rlhf_otel.analytics._engine import (
    AnalyticsUnavailableError,
    Engine,
    arrow_batches,
    open_engine,
    require_duckdb,
)
from rlhf_otel.analytics._limits import EngineConfig, engine_defaults
from rlhf_otel.analytics._scope import (
    NORM_SQL,
    WSCORE_SQL,
    Where,
    feedback_where,
    interaction_where,
    select_scope,
)
from rlhf_otel.analytics._text import Percentiles
from rlhf_otel.analytics._types import AgreementStats, AnalyticsResult
from rlhf_otel.analytics._views import FEEDBACK_COLUMNS, INTERACTION_COLUMNS, counted_view_sql

__all__ = [
    "AgreementStats",
    "AnalyticsResult",
    "AnalyticsUnavailableError",
    "Engine",
    "EngineConfig",
    "FEEDBACK_COLUMNS",
    "INTERACTION_COLUMNS",
    "NORM_SQL",
    "Percentiles",
    "WSCORE_SQL",
    "Where",
    "arrow_batches",
    "cohen_kappa",
    "counted_view_sql",
    "engine_defaults",
    "engine_stats",
    "feedback_where",
    "fleiss_kappa",
    "get_analytics",
    "interaction_where",
    "krippendorff_alpha",
    "open_engine",
    "require_duckdb",
    "select_scope",
    "store_stats",
]
