"""An interaction's steps: the candidate spans of a trace below the one that is the
interaction, as ``metadata["steps"]``, and what the outer span takes from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from rlhf_otel.recording._dialects import KIND_LLM, KIND_WRAPPER
from rlhf_otel.records import Interaction, TokenUsage

__all__ = ["Candidate", "with_steps"]


@dataclass(slots=True)
class Candidate:
    """A held span that may be an interaction: its record, kind and parent."""

    span: Any
    interaction: Interaction
    kind: str
    parent: int | None
    needs_content: bool
    since: float


def _step(c: Candidate) -> dict[str, Any]:
    it = c.interaction
    step: dict[str, Any] = {"span_id": it.span_id, "kind": c.kind, "model": it.model}
    step["provider"] = it.provider
    step["prompt"] = it.prompt
    step["response"] = it.response
    if it.metadata.get("tool_calls"):
        step["tool_calls"] = it.metadata["tool_calls"]
    if it.token_usage is not None:
        u = it.token_usage
        step["token_usage"] = {"prompt": u.prompt, "completion": u.completion, "total": u.total}
    step["latency_ms"] = it.latency_ms
    if it.error_type:
        step["error_type"] = it.error_type
    return step


def _sum_usage(steps: Sequence[Candidate]) -> TokenUsage | None:
    usages = [c.interaction.token_usage for c in steps if c.interaction.token_usage]
    if not usages:
        return None

    def total(name: str) -> int | None:
        values = [getattr(u, name) for u in usages]
        return None if any(v is None for v in values) else sum(values)

    return TokenUsage(total("prompt"), total("completion"), total("total"))


def with_steps(top: Candidate, inner: list[Candidate]) -> Interaction:
    """``top``'s record with ``inner`` as its steps and what it lacks taken from them."""
    it = top.interaction
    if not inner:
        return it
    inner.sort(key=lambda c: c.interaction.timestamp)
    llm_steps = [c for c in inner if c.kind == KIND_LLM]
    changes: dict[str, Any] = {}
    if top.kind == KIND_LLM and llm_steps:
        # Two instrumentations on one call: the outer span, filled in from the inner one.
        same = llm_steps[0].interaction
        for name in ("prompt", "response", "model", "response_id", "user_id", "session_id"):
            if not getattr(it, name) and getattr(same, name):
                changes[name] = getattr(same, name)
        if not it.context and same.context:
            changes["context"] = same.context
        if it.token_usage is None and same.token_usage is not None:
            changes["token_usage"] = same.token_usage
        if not it.finish_reasons and same.finish_reasons:
            changes["finish_reasons"] = same.finish_reasons
    elif top.kind == KIND_WRAPPER and llm_steps:
        last = llm_steps[-1].interaction
        if not it.model and last.model:
            changes["model"] = last.model
            changes["provider"] = last.provider
        if it.token_usage is None:
            changes["token_usage"] = _sum_usage(llm_steps)
        if not it.finish_reasons and last.finish_reasons:
            changes["finish_reasons"] = last.finish_reasons
        if not it.response_id and last.response_id:
            changes["response_id"] = last.response_id  # the final answer's model call
        first = llm_steps[0].interaction
        if it.time_to_first_token_ms is None and first.time_to_first_token_ms is not None:
            lead = (first.timestamp - it.timestamp).total_seconds() * 1000
            changes["time_to_first_token_ms"] = max(lead, 0.0) + first.time_to_first_token_ms
        if not it.context and first.context and first.prompt == it.prompt:
            changes["context"] = first.context  # the system prompt the chain sent
    metadata = dict(it.metadata)
    metadata["steps"] = [_step(c) for c in inner]
    if "tool_calls" not in metadata:
        # A model call: the tool calls of its answer; an agent run: every call of its steps.
        firsts = llm_steps[:1] if top.kind == KIND_LLM else llm_steps
        calls = [c for s in firsts for c in s.interaction.metadata.get("tool_calls") or ()]
        if calls:
            metadata["tool_calls"] = calls
    changes["metadata"] = metadata
    return replace(it, **changes)
