"""Dialects that flatten messages into indexed attributes: legacy OpenLLMetry
(``gen_ai.prompt.N.*``, ``gen_ai.completion.N.*``, ``llm.usage.*``) and OpenInference
(``llm.input_messages.N.message.*``, ``input.value``/``output.value``, span kinds)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from rlhf_otel.recording._dialects import (
    KIND_LLM,
    KIND_WRAPPER,
    Dialect,
    Fields,
    Scalars,
    SpanView,
    loads,
    normalize_message,
    normalize_messages,
    text_of,
)

__all__ = ["OPENINFERENCE", "OPENLLMETRY", "indexed"]


def indexed(attrs: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    """``{prefix}{i}.{rest}`` attributes grouped by ``i`` (in index order), keyed by rest."""
    groups: dict[int, dict[str, Any]] = {}
    n = len(prefix)
    for key, value in attrs.items():
        if key.startswith(prefix):
            index, _, rest = key[n:].partition(".")
            if rest and index.isdigit():
                groups.setdefault(int(index), {})[rest] = value
    if not groups:  # the usual answer for a message's tool calls
        return []
    return [groups[i] for i in sorted(groups)]


_PARSED_MAX: Final = 4096
_PLANS_MAX: Final = 1024  # a plan holds a span's whole key tuple
_Plan = tuple[tuple[tuple[tuple[str, str], ...], ...], ...]


class _Indexer:
    """:func:`indexed` for a fixed set of prefixes, planned once per set of attribute keys
    (an instrumentation sends the same keys on every span): each group is a list of
    ``(rest, key)`` pairs, in index order."""

    __slots__ = ("_parsed", "_plans", "_prefixes")

    def __init__(self, *prefixes: str) -> None:
        self._prefixes = prefixes
        self._parsed: dict[str, tuple[tuple[int, int, str], ...]] = {}
        self._plans: dict[tuple[str, ...], _Plan] = {}

    def groups(self, attrs: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
        """For each prefix, what ``indexed(attrs, prefix)`` gives."""
        keys = tuple(attrs)
        plan = self._plans.get(keys)
        if plan is None:
            plan = self._plan(keys)
        out = []
        for planned in plan:
            groups = []
            for members in planned:
                group = {}
                for rest, key in members:
                    group[rest] = attrs[key]
                groups.append(group)
            out.append(groups)
        return out

    def _plan(self, keys: tuple[str, ...]) -> _Plan:
        found: list[dict[int, list[tuple[str, str]]]] = [{} for _ in self._prefixes]
        for key in keys:
            hits = self._parsed.get(key)
            if hits is None:
                hits = self._parse(key)
            for which, index, rest in hits:
                found[which].setdefault(index, []).append((rest, key))
        plan = tuple(tuple(tuple(g[i]) for i in sorted(g)) for g in found)
        if len(self._plans) >= _PLANS_MAX:
            self._plans.clear()
        self._plans[keys] = plan
        return plan

    def _parse(self, key: str) -> tuple[tuple[int, int, str], ...]:
        hits = []
        for which, prefix in enumerate(self._prefixes):
            if key.startswith(prefix):
                index, _, rest = key[len(prefix) :].partition(".")
                if rest and index.isdigit():
                    hits.append((which, int(index), rest))
        if len(self._parsed) >= _PARSED_MAX:  # keys are few per dialect; bound odd senders
            self._parsed.clear()
        self._parsed[key] = found = tuple(hits)
        return found


def _text(value: Any) -> str:
    if isinstance(value, str):
        parsed = loads(value) if value[:1] == "[" else None
        return text_of(parsed) if isinstance(parsed, list) else value
    return text_of(value)


# ----------------------------------------------------------------------------- OpenLLMetry

_LLMETRY: Final = Scalars(
    model=("gen_ai.request.model", "llm.request.model"),
    response_model=("gen_ai.response.model", "llm.response.model"),
    provider=("gen_ai.system", "llm.vendor"),
    input_tokens=(
        "gen_ai.usage.prompt_tokens",
        "gen_ai.usage.input_tokens",
        "llm.usage.prompt_tokens",
    ),
    output_tokens=(
        "gen_ai.usage.completion_tokens",
        "gen_ai.usage.output_tokens",
        "llm.usage.completion_tokens",
    ),
    total_tokens=("llm.usage.total_tokens",),
    response_id=("gen_ai.response.id",),
    user_id=("llm.user", "user.id"),
    session_id=("session.id",),
    error_type=("error.type",),
)
_LLMETRY_MESSAGES: Final = _Indexer("gen_ai.prompt.", "gen_ai.completion.")


def _llmetry_message(group: Mapping[str, Any], default_role: str) -> dict[str, Any] | None:
    calls = [
        {
            "id": c.get("id"),
            "type": "function",
            "function": {"name": c.get("name"), "arguments": c.get("arguments")},
        }
        for c in indexed(group, "tool_calls.")
    ]
    if "function_call.name" in group:
        calls.append(
            {
                "function": {
                    "name": group["function_call.name"],
                    "arguments": group.get("function_call.arguments"),
                }
            }
        )
    raw: dict[str, Any] = {
        "role": group.get("role") or default_role,
        "content": _text(group.get("content", "")),
    }
    if calls:
        raw["tool_calls"] = calls
    if isinstance(group.get("tool_call_id"), str):
        raw["tool_call_id"] = group["tool_call_id"]
    return normalize_message(raw)


def read_openllmetry(view: SpanView) -> Fields:
    """Legacy OpenLLMetry attributes (before it moved to ``gen_ai.input.messages``)."""
    attrs = view.attributes
    out = Fields()
    kind = attrs.get("llm.request.type")
    if isinstance(kind, str) and kind not in ("chat", "completion"):
        out.kind = f"skip:openllmetry:{kind}"
    prompt_groups, completion_groups = _LLMETRY_MESSAGES.groups(attrs)
    prompts = [_llmetry_message(g, "user") for g in prompt_groups]
    if prompts:
        out.messages = [m for m in prompts if m is not None]
    completions = [_llmetry_message(g, "assistant") for g in completion_groups]
    first = next((m for m in completions if m is not None), None)
    if first is not None:
        out.response = str(first.get("content", ""))
        if first.get("tool_calls"):
            out.tool_calls = list(first["tool_calls"])
        reasons = tuple(
            str(g["finish_reason"]) for g in completion_groups if g.get("finish_reason")
        )
        if reasons:
            out.finish_reasons = reasons
    _LLMETRY.read(attrs, out)
    params = {
        name: attrs[key]
        for key, name in (
            ("gen_ai.request.temperature", "temperature"),
            ("gen_ai.request.max_tokens", "max_tokens"),
            ("gen_ai.request.top_p", "top_p"),
        )
        if key in attrs
    }
    if params:
        out.params = params
    if out.kind is None and (prompts or completions):
        out.kind = KIND_LLM
    return out


OPENLLMETRY: Final = Dialect(
    name="openllmetry",
    rank=20,
    read=read_openllmetry,
    marker_keys=frozenset({"llm.request.type", "gen_ai.system"}),
    marker_prefixes=("gen_ai.prompt.", "gen_ai.completion.", "llm.usage."),
)
"""Legacy OpenLLMetry (``opentelemetry-instrumentation-openai`` before 0.40)."""

# ----------------------------------------------------------------------------- OpenInference

_OI: Final = Scalars(
    model=("llm.request.model_name", "llm.model_name"),
    response_model=("llm.response.model_name", "llm.model_name"),
    provider=("llm.provider", "llm.system"),
    input_tokens=("llm.token_count.prompt",),
    output_tokens=("llm.token_count.completion",),
    total_tokens=("llm.token_count.total",),
    finish_reasons=("llm.finish_reason",),
    user_id=("user.id",),
    session_id=("session.id",),
)
_OI_MESSAGES: Final = _Indexer("llm.input_messages.", "llm.output_messages.")
_GENERATION_KINDS: Final = frozenset({"LLM"})
_WRAPPER_KINDS: Final = frozenset({"CHAIN", "AGENT"})


def _oi_message(group: Mapping[str, Any]) -> dict[str, Any] | None:
    content: Any = group.get("message.content")
    if content is None:
        parts = indexed(group, "message.contents.")
        content = "".join(
            str(p.get("message_content.text", ""))
            for p in parts
            if p.get("message_content.type", "text") == "text"
        )
    calls = [
        {
            "id": c.get("tool_call.id"),
            "type": "function",
            "function": {
                "name": c.get("tool_call.function.name"),
                "arguments": c.get("tool_call.function.arguments"),
            },
        }
        for c in indexed(group, "message.tool_calls.")
    ]
    raw: dict[str, Any] = {"role": group.get("message.role"), "content": content}
    if calls:
        raw["tool_calls"] = calls
    if isinstance(group.get("message.tool_call_id"), str):
        raw["tool_call_id"] = group["message.tool_call_id"]
    return normalize_message(raw)


def _io_text(value: Any) -> tuple[str | None, list[dict[str, Any]] | None]:
    """The text of ``input.value``/``output.value``, or the messages it holds (JSON)."""
    if not isinstance(value, str):
        return None, None
    doc = loads(value)
    if doc is None:
        return value, None
    if isinstance(doc, Mapping):
        messages = normalize_messages(doc.get("messages"))
        if messages:
            return None, messages
        choices = doc.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
            msg = normalize_message(choices[0].get("message") or {})
            if msg is not None:
                return str(msg.get("content", "")), None
        content = doc.get("content")
        if content is not None and doc.get("type") == "message":  # Anthropic message
            return text_of(content), None
        for key in ("output", "input", "question", "query", "text", "answer", "content"):
            if isinstance(doc.get(key), str):
                return str(doc[key]), None
        return None, None
    if isinstance(doc, list):
        messages = normalize_messages(doc)
        if messages:
            return None, messages
    return (doc, None) if isinstance(doc, str) else (None, None)


def read_openinference(view: SpanView) -> Fields:
    """OpenInference: LLM spans by their messages, CHAIN/AGENT spans by input and output."""
    attrs = view.attributes
    out = Fields()
    kind = str(attrs.get("openinference.span.kind") or "").upper()
    if kind in _GENERATION_KINDS:
        out.kind = KIND_LLM
    elif kind in _WRAPPER_KINDS:
        out.kind = KIND_WRAPPER
    elif kind:
        out.kind = f"skip:openinference:{kind.lower()}"
    input_groups, output_groups = _OI_MESSAGES.groups(attrs)
    inputs = [_oi_message(g) for g in input_groups]
    if inputs:
        out.messages = [m for m in inputs if m is not None]
    outputs = [m for m in (_oi_message(g) for g in output_groups) if m]
    if outputs:
        out.response = "".join(
            str(m.get("content", "")) for m in outputs if m.get("role") == "assistant"
        )
        calls = [c for m in outputs for c in m.get("tool_calls", ())]
        if calls:
            out.tool_calls = calls
    if out.messages is None:
        text, messages = _io_text(attrs.get("input.value"))
        if messages is not None:
            out.messages = messages
        elif text is not None:
            out.messages = [{"role": "user", "content": text}]
    if out.response is None:
        text, messages = _io_text(attrs.get("output.value"))
        if text is not None:
            out.response = text
        elif messages:
            out.response = str(messages[-1].get("content", ""))
    params = loads(attrs.get("llm.invocation_parameters"))
    if isinstance(params, Mapping) and isinstance(params.get("model"), str) and out.model is None:
        out.model = params["model"]  # the model asked for; llm.model_name is the answering one
    if isinstance(params, Mapping):
        known = {k: params[k] for k in ("temperature", "max_tokens", "top_p") if k in params}
        if known:
            out.params = known
    _OI.read(attrs, out)
    return out


OPENINFERENCE: Final = Dialect(
    name="openinference",
    rank=10,
    read=read_openinference,
    marker_keys=frozenset({"openinference.span.kind"}),
    marker_prefixes=("llm.input_messages.", "llm.output_messages."),
)
"""OpenInference (Arize Phoenix's instrumentations)."""
