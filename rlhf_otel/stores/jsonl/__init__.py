"""The local JSONL store: append-only segments, rotation, id index, crash recovery."""

from __future__ import annotations

from rlhf_otel.stores.jsonl._files import StoreFiles, list_store_files
from rlhf_otel.stores.jsonl._store import FsyncPolicy, JsonlHealth, JsonlStore, JsonlStoreConfig
from rlhf_otel.stores.jsonl._synth import SyntheticStore, write_synthetic_store

__all__ = [
    "FsyncPolicy",
    "JsonlHealth",
    "JsonlStore",
    "JsonlStoreConfig",
    "StoreFiles",
    "SyntheticStore",
    "list_store_files",
    "write_synthetic_store",
]
