"""The library versions this instrumentation supports."""

from __future__ import annotations

_instruments = ("openai >= 1.40",)
