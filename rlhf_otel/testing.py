"""Helpers for testing code that uses rlhf-otel.

Example::

    from rlhf_otel.testing import write_synthetic_store
    info = write_synthetic_store(tmp_path, interactions=10_000, feedback=10_000, seed=1)
    store = rlhf_otel.stores.JsonlStore(tmp_path)
"""

from __future__ import annotations

from rlhf_otel.stores.jsonl import SyntheticStore, write_synthetic_store

__all__ = ["SyntheticStore", "write_synthetic_store"]
