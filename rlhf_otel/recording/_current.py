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

    Feedback for one of them becomes an event on it, when the feedback goes where the
    span's record goes (the same ``owner``: the record queue, or none). Adding an event and
    unregistering the span happen under one lock, so an event is never added to a span
    that already ended; the span itself ends outside the lock, so what the tracer's span
    processors do at its end never runs under it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: dict[str, tuple[Span, object]] = {}

    def add(self, interaction_id: str, span: Span, owner: object = None) -> None:
        """Register an open span whose record goes to ``owner``."""
        self._spans[interaction_id] = (span, owner)  # one atomic step: no lock needed

    def end(self, interaction_id: str, span: Span, end_time: int | None = None) -> None:
        """Unregister the span and end it."""
        with self._lock:
            self._spans.pop(interaction_id, None)
        span.end(end_time)

    def add_event(
        self,
        interaction_id: str,
        name: str,
        attributes: Attributes,
        *,
        owner: object = None,
        timestamp: int | None = None,
    ) -> Span | None:
        """Add an event to the open span of the same ``owner``; returns that span, or
        ``None`` if no such span is open."""
        with self._lock:
            entry = self._spans.get(interaction_id)
            if entry is None or entry[1] is not owner or not entry[0].is_recording():
                return None
            entry[0].add_event(name, attributes, timestamp)
            return entry[0]


OPEN_SPANS: Final = OpenSpans()
