"""The interaction id of the call just made, per context (thread / asyncio task)."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Final

from opentelemetry.trace import Span
from opentelemetry.util.types import Attributes

__all__ = ["OPEN_SPANS", "OpenSpans", "last_interaction_id", "set_last_interaction_id"]

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


class OpenSpans:
    """Interaction spans still open in this process, by interaction id.

    Feedback for one of them becomes an event on it. Adding an event and ending the span
    both happen under one lock, so feedback is never added to a span that already ended.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: dict[str, Span] = {}

    def add(self, interaction_id: str, span: Span) -> None:
        """Register an open span."""
        with self._lock:
            self._spans[interaction_id] = span

    def end(self, interaction_id: str, span: Span, end_time: int | None = None) -> None:
        """Unregister the span and end it."""
        with self._lock:
            self._spans.pop(interaction_id, None)
            span.end(end_time)

    def add_event(self, interaction_id: str, name: str, attributes: Attributes) -> bool:
        """Add an event to the open span; ``False`` if no such span is open."""
        with self._lock:
            span = self._spans.get(interaction_id)
            if span is None or not span.is_recording():
                return False
            span.add_event(name, attributes)
            return True


OPEN_SPANS: Final = OpenSpans()
