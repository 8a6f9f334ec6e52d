"""The ``rlhf-otel`` command line."""

from __future__ import annotations

from rlhf_otel.cli._main import main

__all__ = ["main"]
