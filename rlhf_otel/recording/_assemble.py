"""Foreign spans to interactions across a whole trace: content sent as log records joined to
its span, and one interaction per answer a person sees (the outermost span).

Rules (documented in docs/dialects.md):

- **Logs join spans** by trace and span id, whichever arrives first. A model-call span with
  neither prompt nor answer waits ``content_wait`` seconds for its log records; past that it
  is stored as it is and counted (``content_logs_missing``). Log records whose span never
  comes are counted (``logs_without_span``) after ``trace_wait``.
- **Outermost span wins**: the spans of a trace are held until its root span (no parent, or
  a remote one) and every ancestor of a held span have been seen (async code may end a parent
  before its child), or ``trace_wait`` seconds (counted ``trace_root_timeout`` or
  ``trace_parent_missing``).
  A candidate is a model-call span (``llm``) or an agent/chain span (``wrapper``) that holds
  both the user's input and an answer (or the error the user got instead). A candidate with
  no candidate above it is an interaction; every candidate below it becomes one of its
  ``metadata["steps"]``; an agent run's interaction also lists every tool call of its steps
  in ``metadata["tool_calls"]`` and takes its last model call's response id. So two
  instrumentations wrapping the same call give one interaction (the outer span, filled in
  from the inner one where it says nothing), and an agent run gives one interaction whose
  steps are its model calls.
- **Feedback on the trace**: feedback whose interaction id is the trace id, or names a span
  of the trace above or inside the interaction, is moved onto that interaction; feedback for
  a trace still held waits with it.
- Bounds: at most ``max_traces`` traces and ``max_spans`` spans each are held; past them the
  oldest trace is settled early (``trace_evicted``). Nothing held is lost: ``drain`` settles
  everything (at shutdown).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rlhf_otel._counters import DropCounter
from rlhf_otel.recording._dialects import KIND_LLM, EventView
from rlhf_otel.recording._retarget import retarget, trace_of
from rlhf_otel.recording._steps import Candidate, with_steps
from rlhf_otel.records import Feedback, Interaction

__all__ = ["Assembled", "TraceAssembler"]

_ALIASES: Final = 100_000


@dataclass(slots=True)
class Assembled:
    """Records settled by one call: interactions and the feedback that waited for them."""

    interactions: list[Interaction] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)

    def extend(self, other: Assembled) -> None:
        """Add ``other``'s records."""
        self.interactions.extend(other.interactions)
        self.feedback.extend(other.feedback)


@dataclass(slots=True)
class _Trace:
    born: float
    candidates: dict[int, Candidate] = field(default_factory=dict)
    parents: dict[int, int | None] = field(default_factory=dict)
    logs: dict[int, list[EventView]] = field(default_factory=dict)
    feedback: list[Feedback] = field(default_factory=list)
    root_seen: bool = False
    roots: set[int] = field(default_factory=set)


Decode = Callable[[Any, Sequence[EventView]], tuple[Interaction | None, str | None]]


def _parent_of(span: Any) -> tuple[int | None, bool]:
    """(parent span id, whether the parent is in another process)."""
    parent = getattr(span, "parent", None)
    if parent is not None:
        return parent.span_id, bool(parent.is_remote)
    pid = getattr(span, "parent_span_id", None)
    return pid, bool(getattr(span, "parent_is_remote", False))


class TraceAssembler:
    """Holds foreign spans, their log records and feedback on them until a trace settles.

    Args:
        decode: ``(span, joined log records) -> (interaction, kind)`` (the dialect layer).
        sink: where records settled by the timer go (the exporter's or receiver's write).
        content_wait: seconds a model-call span with no content waits for its logs.
        trace_wait: seconds a trace waits for its root span.
        max_traces: traces held at most.
        max_spans: spans held per trace at most.
    """

    def __init__(
        self,
        decode: Decode,
        sink: Callable[[Assembled], None] | None = None,
        *,
        content_wait: float = 5.0,
        trace_wait: float = 30.0,
        max_traces: int = 10_000,
        max_spans: int = 2_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._decode = decode
        self._sink = sink
        self.content_wait = content_wait
        self.trace_wait = trace_wait
        self.max_traces = max_traces
        self.max_spans = max_spans
        self._clock = clock
        self._lock = threading.Lock()
        self._traces: OrderedDict[int, _Trace] = OrderedDict()
        self._aliases: OrderedDict[str, str] = OrderedDict()
        self._settled: OrderedDict[tuple[int, int], None] = OrderedDict()
        self.gave_up = DropCounter()
        """Waits that ended without what they waited for, by reason (nothing is lost)."""
        self._timer: threading.Thread | None = None
        self._closed = False
        self.expect_logs = False
        """Wait for the log records of spans without content (set once a logs exporter
        is attached, or logs were received); without it such spans settle at once."""

    # ------------------------------------------------------------------ inputs

    @property
    def pending(self) -> int:
        """Spans held now."""
        with self._lock:
            return sum(len(t.candidates) for t in self._traces.values())

    def spans(self, spans: Iterable[tuple[Any, bool]]) -> Assembled:
        """Take spans in the order they ended: ``(span, foreign)`` where ``foreign`` says a
        dialect marks it (others only tell the trace's shape). Returns what settled."""
        out = Assembled()
        now = self._clock()
        with self._lock:
            touched: dict[int, _Trace] = {}
            for span, foreign in spans:
                ctx = span.get_span_context()
                parent, remote = _parent_of(span)
                trace = self._traces.get(ctx.trace_id)
                if foreign:
                    decoded = None
                    if trace is None and (parent is None or remote):
                        # A root span alone (the common case): nothing above it to wait for.
                        decoded = self._decode(span, ())
                        if self._alone(ctx.trace_id, ctx.span_id, decoded, out):
                            continue
                    if trace is None:
                        trace = self._new(ctx.trace_id, now, out)
                    self._add(trace, span, ctx.span_id, parent, now, decoded)
                elif trace is None:
                    continue
                elif len(trace.parents) < self.max_spans:
                    trace.parents[ctx.span_id] = parent
                if parent is None or remote:
                    trace.root_seen = True
                    trace.roots.add(ctx.span_id)
                touched[ctx.trace_id] = trace
            for trace_id, trace in touched.items():  # after the batch: its order is end order
                if self._traces.get(trace_id) is trace:
                    self._settle_if_ready(trace_id, trace, now, out)
            out.extend(self._expire(now))
            self._finish(out)
        self._arm()
        return out

    def logs(self, records: Iterable[tuple[int, int, EventView]]) -> Assembled:
        """Take GenAI log records ``(trace_id, span_id, event)``; returns what settled."""
        out = Assembled()
        now = self._clock()
        with self._lock:
            touched: set[int] = set()
            for trace_id, span_id, event in records:
                if (trace_id, span_id) in self._settled:
                    continue  # its span was stored with its own content (span and event mode)
                trace = self._traces.get(trace_id)
                if trace is None:
                    trace = self._new(trace_id, now, out)
                trace.logs.setdefault(span_id, []).append(event)
                cand = trace.candidates.get(span_id)
                if cand is not None:
                    self._redecode(trace, span_id, cand)
                touched.add(trace_id)
            for trace_id in touched:
                trace = self._traces.get(trace_id)
                if trace is not None:
                    self._settle_if_ready(trace_id, trace, now, out)
            out.extend(self._expire(now))
            self._finish(out)
        self._arm()
        return out

    def feedback(self, feedback: Sequence[Feedback]) -> list[Feedback]:
        """Feedback moved onto the interaction its trace settled into; feedback on a trace
        still held is kept until it settles (and returned then)."""
        if not feedback:
            return []
        out: list[Feedback] = []
        with self._lock:
            if not self._aliases and not self._traces:
                return list(feedback)
            for fb in feedback:
                # Nothing held (root spans settle alone): no trace for the feedback to wait on.
                if self._traces and fb.interaction_id not in self._aliases:
                    trace = self._traces.get(trace_of(fb.interaction_id))
                    if trace is not None:
                        trace.feedback.append(fb)
                        continue
                out.append(retarget(fb, self._aliases))
        return out

    def holds(self, trace_id: int) -> bool:
        """Whether spans of ``trace_id`` are held (a cheap test for every ended span)."""
        return trace_id in self._traces

    def hold_or_retarget(self, fb: Feedback) -> Feedback | None:
        """``fb`` moved onto the interaction its ids alias, or ``None`` when it names a
        trace still held (it is given back when that trace settles)."""
        if not self._aliases and not self._traces:
            return fb
        with self._lock:
            if self._traces and fb.interaction_id not in self._aliases:
                trace = self._traces.get(trace_of(fb.interaction_id))
                if trace is not None:
                    trace.feedback.append(fb)
                    return None
            return retarget(fb, self._aliases)

    def expire(self) -> Assembled:
        """Settle what waited past its bound."""
        with self._lock:
            return self._finish(self._expire(self._clock()))

    def drain(self) -> Assembled:
        """Settle everything held (at shutdown or a final flush)."""
        out = Assembled()
        with self._lock:
            for trace_id in list(self._traces):
                trace = self._traces.pop(trace_id)
                self._count_missing(trace)
                out.extend(self._settle(trace_id, trace))
            self._finish(out)
        return out

    def close(self) -> Assembled:
        """Stop the timer and settle everything."""
        self._closed = True
        return self.drain()

    # ------------------------------------------------------------------ holding

    def _new(self, trace_id: int, now: float, out: Assembled) -> _Trace:
        while len(self._traces) >= self.max_traces:
            old_id, old = self._traces.popitem(last=False)
            self.gave_up.add("trace_evicted")
            out.extend(self._settle(old_id, old))
        trace = _Trace(born=now)
        self._traces[trace_id] = trace
        return trace

    def _alone(
        self,
        trace_id: int,
        span_id: int,
        decoded: tuple[Interaction | None, str | None],
        out: Assembled,
    ) -> bool:
        """Settle a root span of a trace nothing else is held for, if it needs no logs."""
        interaction, kind = decoded
        if interaction is None or kind is None:
            return True  # skipped by the dialects (counted there); nothing to hold
        if (
            self.expect_logs
            and kind == KIND_LLM
            and not (interaction.prompt or interaction.response)
        ):
            return False
        if kind != KIND_LLM and not (
            interaction.prompt and (interaction.response or interaction.error_type)
        ):
            return True  # a wrapper without the user's input and an answer is no interaction
        out.interactions.append(interaction)
        self._settled[(trace_id, span_id)] = None
        if len(self._settled) > _ALIASES:
            self._settled.popitem(last=False)
        self._alias(f"{trace_id:032x}", interaction.id)
        return True

    def _add(
        self,
        trace: _Trace,
        span: Any,
        span_id: int,
        parent: int | None,
        now: float,
        decoded: tuple[Interaction | None, str | None] | None = None,
    ) -> None:
        trace.parents[span_id] = parent
        if decoded is None:
            decoded = self._decode(span, trace.logs.get(span_id, ()))
        interaction, kind = decoded
        if interaction is None or kind is None:
            return
        if len(trace.candidates) >= self.max_spans:
            self.gave_up.add("trace_too_large")
            return
        empty = not interaction.prompt and not interaction.response
        trace.candidates[span_id] = Candidate(
            span, interaction, kind, parent, self.expect_logs and kind == KIND_LLM and empty, now
        )

    def _redecode(self, trace: _Trace, span_id: int, cand: Candidate) -> None:
        interaction, kind = self._decode(cand.span, trace.logs.get(span_id, ()))
        if interaction is not None and kind is not None:
            cand.interaction, cand.kind = interaction, kind
            cand.needs_content = kind == KIND_LLM and not (
                interaction.prompt or interaction.response
            )

    def _settle_if_ready(self, trace_id: int, trace: _Trace, now: float, out: Assembled) -> None:
        if not trace.root_seen:
            return
        if not trace.candidates:
            if not trace.logs:  # only skipped spans (an embedding, a retriever): nothing to hold
                del self._traces[trace_id]
                out.feedback.extend(trace.feedback)
            return
        if any(now - c.since < self.content_wait for c in self._waiting(trace)):
            return
        whole = self._whole(trace)
        if not whole and now - trace.born < self.trace_wait:
            return
        del self._traces[trace_id]
        if not whole:
            self.gave_up.add("trace_parent_missing")
        self._count_missing(trace)
        out.extend(self._settle(trace_id, trace))

    def _expire(self, now: float) -> Assembled:
        out = Assembled()
        for trace_id in list(self._traces):
            trace = self._traces[trace_id]
            if trace.root_seen and trace.candidates:
                self._settle_if_ready(trace_id, trace, now, out)
            elif now - trace.born >= self.trace_wait:
                del self._traces[trace_id]
                if trace.candidates:
                    self.gave_up.add("trace_root_timeout")
                    self._count_missing(trace)
                elif trace.logs:
                    self.gave_up.add("logs_without_span", sum(map(len, trace.logs.values())))
                out.extend(self._settle(trace_id, trace))
        return out

    @staticmethod
    def _whole(trace: _Trace) -> bool:
        """Every held span's ancestors, up to a root, have been seen."""
        for sid in trace.candidates:
            node: int | None = sid
            for _ in range(len(trace.parents) + 1):
                if node is None or node in trace.roots:
                    break
                if node not in trace.parents:
                    return False
                node = trace.parents[node]
        return True

    @staticmethod
    def _waiting(trace: _Trace) -> list[Candidate]:
        """Model-call spans still without content; one whose own child span (a second
        instrumentation of the same call) has the content waits for nothing."""
        cands = trace.candidates
        filled = {c.parent for c in cands.values() if not c.needs_content}
        return [c for sid, c in cands.items() if c.needs_content and sid not in filled]

    def _count_missing(self, trace: _Trace) -> None:
        missing = len(self._waiting(trace))
        if missing:
            self.gave_up.add("content_logs_missing", missing)

    def _arm(self) -> None:
        if self._sink is None or self._closed or (self._timer and self._timer.is_alive()):
            return
        if not self._traces:
            return
        self._timer = threading.Thread(target=self._tick, name="rlhf-otel-assembler", daemon=True)
        self._timer.start()

    def _tick(self) -> None:
        step = max(min(self.content_wait, self.trace_wait) / 4, 0.05)
        while not self._closed:
            time.sleep(step)
            ready = self.expire()
            if (ready.interactions or ready.feedback) and self._sink is not None:
                self._sink(ready)
            with self._lock:
                if not self._traces:
                    return

    # ------------------------------------------------------------------ settling

    def _settle(self, trace_id: int, trace: _Trace) -> Assembled:
        out = Assembled()
        cands = trace.candidates
        real = {
            sid: c
            for sid, c in cands.items()
            if c.kind == KIND_LLM
            or (c.interaction.prompt and (c.interaction.response or c.interaction.error_type))
        }
        outer: dict[int, list[int]] = {}
        for sid in real:
            top = sid
            node = trace.parents.get(sid, real[sid].parent)
            seen = 0
            while node is not None and seen < 10_000:
                if node in real:
                    top = node
                node = trace.parents.get(node)
                seen += 1
            outer.setdefault(top, [])
            if top != sid:
                outer[top].append(sid)
        trace_hex = f"{trace_id:032x}"
        for sid in cands:
            self._settled[(trace_id, sid)] = None
        while len(self._settled) > _ALIASES:
            self._settled.popitem(last=False)
        for top, inner in outer.items():
            it = with_steps(real[top], [real[s] for s in inner])
            out.interactions.append(it)
            for sid in (top, *inner):
                self._alias(f"{trace_hex}-{sid:016x}", it.id)
            node = trace.parents.get(top, real[top].parent)
            while node is not None:
                self._alias(f"{trace_hex}-{node:016x}", it.id)
                node = trace.parents.get(node)
        if len(outer) == 1:
            self._alias(trace_hex, out.interactions[0].id)
        out.feedback.extend(trace.feedback)  # moved by _finish, once every trace settled
        return out

    def _finish(self, out: Assembled) -> Assembled:
        """Move the released feedback onto interactions (after all settling of a call)."""
        if out.feedback:
            out.feedback = [retarget(fb, self._aliases) for fb in out.feedback]
        return out

    def _alias(self, key: str, target: str) -> None:
        self._aliases[key] = target
        self._aliases.move_to_end(key)
        if len(self._aliases) > _ALIASES:
            self._aliases.popitem(last=False)
