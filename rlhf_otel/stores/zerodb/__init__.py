"""The ZeroDB store: the tables API over httpx, batched, retried, spooled while down."""

from __future__ import annotations

from rlhf_otel.stores.zerodb._config import Secret, ZeroDBConfig
from rlhf_otel.stores.zerodb._send import ZeroDBStatus
from rlhf_otel.stores.zerodb._store import ZeroDBStore

__all__ = [
    "Secret",
    "ZeroDBConfig",
    "ZeroDBStatus",
    "ZeroDBStore",
]
