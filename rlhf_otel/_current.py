"""The interaction id of the call just made, per context (thread / asyncio task)."""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["last_interaction_id", "set_last_interaction_id"]

_LAST: ContextVar[str | None] = ContextVar("rlhf_otel_last_interaction_id", default=None)


def last_interaction_id() -> str | None:
    """The id of the most recent interaction recorded in this context, or ``None``.

    Set by ``@trace_llm``, the OpenAI instrumentation and ``log_interaction`` as soon as the
    interaction span starts, so a handler can pass it to a frontend's thumbs buttons.
    Each thread and asyncio task sees its own value.
    """
    return _LAST.get()


def set_last_interaction_id(interaction_id: str) -> None:
    """Record ``interaction_id`` as the latest in this context (for instrumentations)."""
    _LAST.set(interaction_id)
