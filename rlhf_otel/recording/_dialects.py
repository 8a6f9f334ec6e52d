"""The dialect layer: foreign GenAI telemetry (spans, their events, joined log records) to
interactions, one small declarative mapping per dialect, and the registry that orders them.

How decoding goes (``decode_foreign``): spans we made never reach this layer (``rlhf.*``
attributes; they decode exactly). For any other span, every registered dialect whose
markers it carries reads what it can into a :class:`Fields`; the results are merged field by
field in precedence order (the current ``gen_ai.*`` conventions first, then the others by
``rank``), so a span carrying two dialects gets each field from the best one that has it.
A span that a dialect recognises but that is not a generation (an embedding, a retriever, a
tool call) is skipped with a reason such as ``openinference:retriever``, one no dialect can
read as ``unknown_shape``; the caller counts skips (``delivery()["foreign_skipped"]``).

How to add a dialect (e.g. the Vercel AI SDK's ``ai.*``):

1. Write a module ``_dialect_<name>.py`` with a reader ``read(view: SpanView) -> Fields``
   that fills only what the span says (leave the rest ``None``). Scalars are declarative:
   list attribute names per field in a :class:`Scalars` and call ``scalars.read(view, out)``.
   Messages go through :func:`normalize_message` (OpenAI, GenAI-parts and Anthropic shapes).
   Set ``Fields.kind`` to ``"llm"`` (a model call), ``"wrapper"`` (an agent/chain/outer
   call whose input is the user's and whose output is the final answer) or
   ``"skip:<reason>"``.
2. Build ``Dialect(name=..., rank=..., marker_keys=..., marker_prefixes=...,
   marker_events=..., read=read)``; markers are cheap tests run on every span (exact
   attribute keys, key prefixes, event names) and must be specific to the dialect.
3. Add it to ``BUILTIN`` in ``_foreign.py`` (or call :func:`register`). Rank:
   ``0`` is the current ``gen_ai.*`` conventions; use 10-90 for others.
4. Add a test per shape in ``tests/recording/test_dialects.py`` from a real trace.
"""

from __future__ import annotations

import json
import json.scanner
import operator
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final

from rlhf_otel.recording._providers import UNKNOWN_PROVIDER, infer_provider

__all__ = [
    "DIALECT_EVENTS",
    "KIND_LLM",
    "KIND_WRAPPER",
    "Dialect",
    "EventView",
    "Fields",
    "Scalars",
    "SpanView",
    "as_int",
    "dialects",
    "loads",
    "merge",
    "normalize_message",
    "normalize_messages",
    "read_fields",
    "register",
    "text_of",
    "is_dialect_event",
    "is_dialect_key",
]

KIND_LLM: Final = "llm"
KIND_WRAPPER: Final = "wrapper"
DIALECT_EVENTS: Final = frozenset(
    {
        "gen_ai.client.inference.operation.details",
        "gen_ai.user.message",
        "gen_ai.system.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.choice",
    }
)
"""Event (and log record) names that carry GenAI content for some dialect."""


@dataclass(frozen=True, slots=True)
class EventView:
    """A span event or a log record joined to the span: name, attributes and body."""

    name: str
    attributes: Mapping[str, Any]
    body: Any = None


@dataclass(frozen=True, slots=True)
class SpanView:
    """What a dialect may read of a foreign span."""

    name: str
    attributes: Mapping[str, Any]
    events: Sequence[EventView] = ()


@dataclass(slots=True)
class Fields:
    """The interaction fields one dialect read from a span; ``None`` means "not said".

    ``messages`` is the conversation sent, in order (the last user message becomes the
    prompt, the others the context); ``tool_calls`` are the answer's tool calls.
    """

    kind: str | None = None
    messages: list[dict[str, Any]] | None = None
    response: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    model: str | None = None
    response_model: str | None = None
    provider: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    finish_reasons: tuple[str, ...] | None = None
    response_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    error_type: str | None = None
    params: dict[str, Any] | None = None
    ttft_ms: float | None = None
    """Milliseconds from the call's start to the first streamed chunk."""

    def empty(self) -> bool:
        """Nothing was read (the dialect's markers were there, its shape was not)."""
        return _values(self) == _NOTHING


_NAMES: Final = tuple(f.name for f in fields(Fields))
_values: Final = operator.attrgetter(*_NAMES)  # a Fields' values, in field order
_NOTHING: Final = (None,) * len(_NAMES)


def merge(parts: Sequence[Fields]) -> Fields:
    """Field by field, the first part (in precedence order) that says something wins."""
    if len(parts) == 1:  # the usual case: one dialect read the span
        return Fields(*_values(parts[0]))
    columns = zip(*map(_values, parts), strict=True)
    return Fields(*(next((v for v in col if v is not None), None) for col in columns))


_STR_FIELDS: Final = (
    "model",
    "response_model",
    "provider",
    "response_id",
    "user_id",
    "session_id",
    "error_type",
)
_INT_FIELDS: Final = ("input_tokens", "output_tokens", "total_tokens")


@dataclass(frozen=True, slots=True)
class Scalars:
    """Declarative scalar mapping: for each field, the attribute names to read, in order."""

    model: tuple[str, ...] = ()
    response_model: tuple[str, ...] = ()
    provider: tuple[str, ...] = ()
    input_tokens: tuple[str, ...] = ()
    output_tokens: tuple[str, ...] = ()
    total_tokens: tuple[str, ...] = ()
    finish_reasons: tuple[str, ...] = ()
    response_id: tuple[str, ...] = ()
    user_id: tuple[str, ...] = ()
    session_id: tuple[str, ...] = ()
    error_type: tuple[str, ...] = ()
    _strs: tuple[tuple[str, tuple[str, ...]], ...] = field(init=False, repr=False, compare=False)
    _ints: tuple[tuple[str, tuple[str, ...]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Only the fields that name attributes, looked up once (read runs on every span).
        strs = tuple((n, getattr(self, n)) for n in _STR_FIELDS if getattr(self, n))
        ints = tuple((n, getattr(self, n)) for n in _INT_FIELDS if getattr(self, n))
        object.__setattr__(self, "_strs", strs)
        object.__setattr__(self, "_ints", ints)

    def read(self, attrs: Mapping[str, Any], out: Fields) -> Fields:
        """Fill ``out`` from ``attrs`` (fields already set are kept); returns ``out``."""
        get = attrs.get
        for name, keys in self._strs:
            if getattr(out, name) is None:
                for key in keys:
                    value = get(key)
                    if isinstance(value, str) and value:
                        setattr(out, name, value)
                        break
        for name, keys in self._ints:
            if getattr(out, name) is None:
                for key in keys:
                    n = as_int(get(key))
                    if n is not None:
                        setattr(out, name, n)
                        break
        if out.finish_reasons is None:
            for key in self.finish_reasons:
                value = attrs.get(key)
                if isinstance(value, str) and value:
                    out.finish_reasons = (value,)
                    break
                if isinstance(value, (list, tuple)) and value:
                    out.finish_reasons = tuple(str(v) for v in value)
                    break
        return out


def as_int(value: object) -> int | None:
    """An int attribute (floats with no fraction too), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


# What json.loads runs. The stub types the context as the scanner itself (a TODO there).
_scan: Final = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
_JSON_SPACE: Final = " \t\n\r"


def loads(value: object) -> Any:
    """A JSON-string attribute decoded, a structured one as is, else ``None``."""
    if isinstance(value, str):
        if not value or value[0] not in '[{"':
            return None
        # What json.loads does past its leading-whitespace and BOM checks (the first
        # character rules both out), without its per-call overhead.
        try:
            doc, end = _scan(value, 0)
        except (ValueError, StopIteration):
            return None
        if end != len(value) and value[end:].lstrip(_JSON_SPACE):
            return None
        return doc
    if isinstance(value, (list, tuple, dict)):
        return value
    return None


def _get(obj: Any, key: str) -> Any:
    # ``type(...) is dict`` first: decoded JSON is dicts, and the ABC test is slow.
    return obj.get(key) if type(obj) is dict or isinstance(obj, Mapping) else None


def text_of(content: Any) -> str:
    """The text of a message content: a string, or the text parts of a list of parts
    (OpenAI ``text``/``input_text``/``output_text``, GenAI ``text`` with ``content``,
    Anthropic ``text`` blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif _get(part, "type") in ("text", "input_text", "output_text", None):
                value = _get(part, "text")
                if value is None:
                    value = _get(part, "content")
                if isinstance(value, str):
                    texts.append(value)
        return "".join(texts)
    return ""


def _tool_call(obj: Mapping[str, Any]) -> dict[str, Any]:
    fn = obj.get("function")
    if isinstance(fn, Mapping):  # OpenAI chat shape
        name, args = fn.get("name"), fn.get("arguments")
    else:  # GenAI parts / Anthropic tool_use
        name = obj.get("name")
        args = obj.get("arguments", obj.get("input"))
    if not isinstance(args, str) and args is not None:
        args = json.dumps(args, separators=(",", ":"), sort_keys=True)
    return {"id": obj.get("id"), "name": name, "arguments": args}


def normalize_message(msg: Any) -> dict[str, Any] | None:
    """One message in our ``{role, content, tool_calls?, tool_call_id?}`` form, from the
    OpenAI chat shape, the GenAI ``parts`` shape or Anthropic content blocks."""
    if type(msg) is not dict and not isinstance(msg, Mapping):
        return None
    get = msg.get
    role = get("role")
    if not isinstance(role, str):
        return None
    out: dict[str, Any] = {"role": role}
    calls: list[dict[str, Any]] = []
    parts = get("parts")
    content = get("content")
    if isinstance(parts, (list, tuple)):
        texts = []
        for part in parts:
            if type(part) is not dict and not isinstance(part, Mapping):
                continue
            kind = part.get("type")
            if kind == "text":
                text = part.get("content")
                if isinstance(text, str):
                    texts.append(text)
            elif kind == "tool_call":
                calls.append(_tool_call(part))
            elif kind == "tool_call_response":
                out["tool_call_id"] = part.get("id")
                resp = part.get("response")
                texts.append(resp if isinstance(resp, str) else json.dumps(resp))
        out["content"] = "".join(texts)
    elif isinstance(content, (list, tuple)):
        texts = []
        for block in content:
            kind = _get(block, "type")
            if kind == "tool_use":
                calls.append(_tool_call(block))
            elif kind == "tool_result":
                out["tool_call_id"] = block.get("tool_use_id")
                texts.append(text_of(block.get("content")))
            else:
                texts.append(text_of([block]))
        out["content"] = "".join(texts)
    else:
        out["content"] = content if isinstance(content, str) else ""
    tool_calls = get("tool_calls")
    if tool_calls:
        for call in tool_calls:
            if isinstance(call, Mapping):
                calls.append(_tool_call(call))
    if calls:
        out["tool_calls"] = calls
    tool_call_id = get("tool_call_id")
    if isinstance(tool_call_id, str):
        out["tool_call_id"] = tool_call_id
    return out


def normalize_messages(value: Any) -> list[dict[str, Any]] | None:
    """A list of messages in our form, or ``None`` when ``value`` is not one."""
    value = loads(value)
    if not isinstance(value, (list, tuple)):
        return None
    out = [m for m in (normalize_message(v) for v in value) if m is not None]
    return out if out or not value else None


Reader = Callable[[SpanView], Fields]


@dataclass(frozen=True, slots=True)
class Dialect:
    """One telemetry dialect: the markers that show a span may carry it, and its reader.

    Args:
        name: short name used in skip reasons and docs (``openinference``).
        rank: precedence when several dialects read the same span (lower wins; the current
            ``gen_ai.*`` conventions are 0).
        marker_keys: attribute keys whose presence marks the dialect.
        marker_prefixes: attribute key prefixes that mark it.
        marker_events: event (or joined log record) names that mark it.
        read: the mapping from a span to :class:`Fields`.
    """

    name: str
    rank: int
    read: Reader
    marker_keys: frozenset[str] = frozenset()
    marker_prefixes: tuple[str, ...] = ()
    marker_events: frozenset[str] = frozenset()

    def claims(self, view: SpanView) -> bool:
        """Whether the span carries this dialect's markers."""
        attrs = view.attributes
        if any(k in attrs for k in self.marker_keys):
            return True
        if self.marker_prefixes and any(k.startswith(self.marker_prefixes) for k in attrs):
            return True
        return any(e.name in self.marker_events for e in view.events)


_lock = threading.Lock()
_key_owners: dict[str, set[str]] = {}
_event_owners: dict[str, set[str]] = {}
_prefix_owners: list[tuple[str, str]] = []
_registry: list[Dialect] = []
_keys: frozenset[str] = frozenset()
_prefixes: tuple[str, ...] = ()
_events: frozenset[str] = frozenset()
_claims: dict[str, frozenset[str]] = {}
"""Attribute key -> the dialects it marks (empty for most keys); filled as keys are met."""
_CLAIMS_MAX: Final = 4096


def register(dialect: Dialect) -> None:
    """Add (or replace, by name) a dialect; the registry stays ordered by rank."""
    global _keys, _prefixes, _events
    with _lock:
        kept = [d for d in _registry if d.name != dialect.name]
        kept.append(dialect)
        kept.sort(key=lambda d: (d.rank, d.name))
        _registry[:] = kept
        _keys = frozenset().union(*(d.marker_keys for d in kept))
        _prefixes = tuple(p for d in kept for p in d.marker_prefixes)
        _events = frozenset().union(*(d.marker_events for d in kept))
        _key_owners.clear()
        _event_owners.clear()
        for d in kept:
            for key in d.marker_keys:
                _key_owners.setdefault(key, set()).add(d.name)
            for name in d.marker_events:
                _event_owners.setdefault(name, set()).add(d.name)
        _prefix_owners[:] = [(p, d.name) for d in kept for p in d.marker_prefixes]
        _claims.clear()


def _key_claims(key: str) -> frozenset[str]:
    """The dialects ``key`` marks: its exact-key owners, else those of its prefixes."""
    names = _key_owners.get(key)
    if names is not None:
        found = frozenset(names)
    elif key.startswith(_prefixes):
        found = frozenset(owner for prefix, owner in _prefix_owners if key.startswith(prefix))
    else:
        found = frozenset()
    if len(_claims) >= _CLAIMS_MAX:  # span attribute keys are few; bound odd senders
        _claims.clear()
    _claims[key] = found
    return found


def _claimants(view: SpanView) -> set[str]:
    """Names of the dialects whose markers ``view`` carries (one pass over its keys)."""
    found: set[str] = set()
    claims = _claims
    for key in view.attributes:
        names = claims.get(key)
        if names is None:
            names = _key_claims(key)
        if names:
            found |= names
    for event in view.events:
        owners = _event_owners.get(event.name)
        if owners is not None:
            found |= owners
    return found


def dialects() -> tuple[Dialect, ...]:
    """The registered dialects, in precedence order."""
    return tuple(_registry)


def is_dialect_key(key: str) -> bool:
    """Whether an attribute key marks some dialect (a cheap test before decoding)."""
    return key in _keys or key.startswith(_prefixes)


def is_dialect_event(name: str) -> bool:
    """Whether an event or log record name marks some dialect."""
    return name in _events


def read_fields(view: SpanView) -> tuple[Fields | None, str | None]:
    """The merged fields of every dialect that claims ``view``, or ``(None, reason)``.

    ``reason`` is ``None`` when no dialect claims the span (an ordinary span, not counted).
    """
    parts: list[Fields] = []
    claimed: list[str] = []
    marked = _claimants(view)
    if not marked:
        return None, None
    for dialect in _registry:
        if dialect.name not in marked:
            continue
        claimed.append(dialect.name)
        try:
            part = dialect.read(view)
        except (KeyError, ValueError, TypeError, AttributeError, IndexError):
            continue
        if not part.empty():
            parts.append(part)
    if not claimed:
        return None, None
    if not parts:
        return None, "unknown_shape"
    # A dialect that knows the span holds no interaction wins over one that reads a call.
    for part in parts:
        if part.kind is not None and part.kind.startswith("skip:"):
            return None, part.kind[5:]
    merged = merge(parts)
    if merged.kind is None:
        if merged.messages is None and merged.response is None and merged.model is None:
            return None, "unknown_shape"
        merged.kind = KIND_LLM
    if merged.provider is None or merged.provider == UNKNOWN_PROVIDER:
        merged.provider = infer_provider(merged.model or merged.response_model)
    else:  # the conventions' values are lowercase; older instrumentations wrote "OpenAI"
        merged.provider = merged.provider.lower()
    return merged, None
