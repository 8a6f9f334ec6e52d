"""rlhf-otel: human feedback on LLM answers as OpenTelemetry spans."""

from __future__ import annotations
