"""Stores: where interactions and feedback records live.

Example::

    from rlhf_otel.stores import MemoryStore
    store = MemoryStore(max_entries=1000)
    logger = rlhf_otel.create_rlhf_logger(store=store)

Any object with the six methods of the :class:`Store` Protocol works wherever ours do (the
guide's CUSTOM backend); its optional methods (``flush``, ``purge``, ``segment_files`` ...)
are used when present, through the ``store_*`` helpers.
"""

from __future__ import annotations

from rlhf_otel.stores._factory import open_local_store, open_store, open_zerodb_store
from rlhf_otel.stores._memory import MemoryStore
from rlhf_otel.stores._protocol import (
    DropCounter,
    Store,
    apply_window,
    feedback_stats,
    store_dropped,
    store_flush,
    store_initialize,
    store_purge,
    store_segment_files,
)
from rlhf_otel.stores.jsonl import FsyncPolicy, JsonlHealth, JsonlStore, JsonlStoreConfig
from rlhf_otel.stores.zerodb import Secret, ZeroDBConfig, ZeroDBStatus, ZeroDBStore

__all__ = [
    "DropCounter",
    "FsyncPolicy",
    "JsonlHealth",
    "JsonlStore",
    "JsonlStoreConfig",
    "MemoryStore",
    "Secret",
    "Store",
    "ZeroDBConfig",
    "ZeroDBStatus",
    "ZeroDBStore",
    "apply_window",
    "feedback_stats",
    "open_local_store",
    "open_store",
    "open_zerodb_store",
    "store_dropped",
    "store_flush",
    "store_initialize",
    "store_purge",
    "store_segment_files",
]
