"""LLMCall: one LLM call between its start and its stop or fail (the invocation object)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span

from rlhf_otel.recording._response import ChunkAccumulator, ResponseInfo, StreamAccumulator
from rlhf_otel.records import FeedbackSession

if TYPE_CHECKING:
    from rlhf_otel.recording._handler import RecordingHandler

__all__ = ["LLMCall", "prompt_index", "reorder", "split_messages"]

_log = logging.getLogger("rlhf_otel")


def prompt_index(messages: Sequence[Mapping[str, Any]]) -> int | None:
    """Where the prompt (the last user message) is in ``messages``, if anywhere."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return None


class LLMCall:
    """One LLM call between :meth:`RecordingHandler.start` and its :meth:`stop` or
    :meth:`fail` (the invocation object of OpenTelemetry's GenAI utility, for our records).

    ``interaction_id`` is known from the start (hand it to a frontend at once). The call's
    data may be set on it as it becomes known (``messages``, ``params``, ``user_id``,
    ``response``) or passed to :meth:`stop`; :meth:`chunk` folds a streamed chunk in and
    notes the time of the first one. As a context manager it stops on a normal exit and
    fails with the exception otherwise (which goes on unchanged)::

        with handler.start(model="gpt-4o-mini") as call:
            call.messages = messages
            call.response = read_response(client.chat.completions.create(...))
    """

    __slots__ = (
        "_t0",
        "accumulator",
        "ended",
        "first_chunk",
        "handler",
        "interaction_id",
        "messages",
        "model",
        "named",
        "operation",
        "params",
        "provider",
        "response",
        "session",
        "span",
        "started",
        "user_id",
    )

    def __init__(
        self,
        handler: RecordingHandler,
        span: Span,
        interaction_id: str,
        *,
        model: str | None,
        provider: str,
        operation: str,
        named: bool,
        session: FeedbackSession | None,
    ) -> None:
        self.handler = handler
        self.span = span
        self.interaction_id = interaction_id
        self.model = model
        self.provider = provider
        self.operation = operation
        self.named = named
        self.session = session
        self.accumulator: ChunkAccumulator | None = None
        self.first_chunk: float | None = None
        self.ended = False
        self.started: dict[str, Any] = {}
        self.messages: Sequence[Mapping[str, Any]] | None = None
        self.params: Mapping[str, Any] | None = None
        self.user_id: str | None = None
        self.response: ResponseInfo | None = None
        self._t0 = time.perf_counter()

    def stop(self, response: ResponseInfo | None = None, **options: Any) -> str:
        """End the call with what it returned; see :meth:`RecordingHandler.stop`."""
        return self.handler.stop(self, response, **options)

    def fail(
        self, error: BaseException, response: ResponseInfo | None = None, **options: Any
    ) -> str:
        """End the call as failed with ``error``; see :meth:`RecordingHandler.fail`."""
        return self.handler.fail(self, error, response, **options)

    def __enter__(self) -> LLMCall:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.stop()
        else:
            self.fail(exc)

    def chunk(self, chunk: Any) -> None:
        """Fold one streamed chunk (or event) into the response; never raises."""
        if self.first_chunk is None:
            self.first_chunk = time.perf_counter()
        try:
            if self.accumulator is None:
                self.accumulator = StreamAccumulator()
            self.accumulator.add(chunk)
        except Exception:
            _log.debug("could not read a streamed chunk", exc_info=True)

    def streamed(self) -> ResponseInfo:
        """What the chunks seen so far say."""
        return ResponseInfo() if self.accumulator is None else self.accumulator.result()


def split_messages(
    messages: Sequence[Mapping[str, Any]],
) -> tuple[int | None, str, list[dict[str, Any]]]:
    """Where the prompt was among the messages sent when that is not last (else ``None``:
    context-then-prompt is the order they were sent in), the prompt and the context."""
    if not messages:
        return None, "", []
    index = prompt_index(messages)
    if index is None:
        return None, "", [dict(m) for m in messages]
    prompt = messages[index].get("content")
    context = [dict(m) for i, m in enumerate(messages) if i != index]
    at = None if index == len(messages) - 1 else index
    return at, prompt if isinstance(prompt, str) else "", context


def reorder(
    at: int | None, prompt: str, context: list[dict[str, Any]]
) -> list[Mapping[str, Any]] | None:
    """The (redacted) messages in the order they were sent, the prompt back at ``at`` (what
    :func:`split_messages` gave), or ``None`` when context-then-prompt is that order."""
    if at is None:
        return None
    out: list[Mapping[str, Any]] = list(context)
    out.insert(at, {"role": "user", "content": prompt})
    return out
