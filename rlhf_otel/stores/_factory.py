"""Build the configured store for a logger (imports optional backends lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rlhf_otel.stores._protocol import Store

if TYPE_CHECKING:
    from rlhf_otel._config import RLHFConfig

__all__ = ["open_local_store", "open_store", "open_zerodb_store"]


def open_store(config: RLHFConfig) -> Store:
    """The store ``config`` names: its own ``store``, memory, local JSONL or ZeroDB."""
    from rlhf_otel._errors import ConfigurationError
    from rlhf_otel.records import StorageBackend
    from rlhf_otel.stores._memory import MemoryStore

    if config.store is not None:
        return config.store
    if config.backend is StorageBackend.MEMORY:
        return MemoryStore(max_entries=config.memory_max_entries)
    if config.backend is StorageBackend.LOCAL:
        return open_local_store(config)
    if config.backend is StorageBackend.ZERODB:
        return open_zerodb_store(config)
    raise ConfigurationError(f"Unsupported storage backend: {config.backend!r}")


def open_local_store(config: RLHFConfig) -> Store:
    """The JSONL store in ``config.data_dir``."""
    from rlhf_otel.stores.jsonl import JsonlStore

    return JsonlStore(
        config.data_dir,
        compress=config.compress,
        max_file_size_mb=config.max_file_size_mb,
        rotate_files=config.rotate_files,
    )


def open_zerodb_store(config: RLHFConfig) -> Store:
    """The ZeroDB store for ``config.zerodb_project_id``."""
    from rlhf_otel.stores.zerodb import ZeroDBStore

    return ZeroDBStore(
        project_id=config.zerodb_project_id,
        api_key=config.zerodb_api_key,
        base_url=config.zerodb_base_url,
        table_name=config.table_name,
        vector_table_name=config.vector_table_name,
    )
