"""The recorded AI SDK traces (``fixtures/ai_sdk_<flavour>.json``) and what the model
server answered to each request they made."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.trace import SpanContext, Status, StatusCode

from rlhf_otel.receiver._decode import OtlpEvent, OtlpSpan
from rlhf_otel.recording import EventView
from rlhf_otel.recording._dialects import SpanView

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FLAVOURS = ("otel", "legacy", "v6", "v5")


@dataclass(frozen=True)
class RecordedSpan:
    """One span of a recorded OTLP/JSON body."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    attributes: dict[str, Any]
    events: tuple[EventView, ...]
    error: bool
    start: int
    end: int

    @property
    def view(self) -> SpanView:
        """What a dialect reads of it."""
        return SpanView(self.name, self.attributes, self.events)

    def received(self) -> OtlpSpan:
        """The span as ``rlhf-otel collect`` receives it."""
        return OtlpSpan(
            name=self.name,
            context=SpanContext(int(self.trace_id, 16), int(self.span_id, 16), is_remote=True),
            attributes=self.attributes,
            events=tuple(OtlpEvent(e.name, e.attributes, self.start) for e in self.events),
            start_time=self.start,
            end_time=self.end,
            parent_span_id=int(self.parent_id, 16) if self.parent_id else None,
            status=Status(StatusCode.ERROR) if self.error else Status(),
        )


def _value(value: dict[str, Any]) -> Any:
    if not value:
        return None
    ((kind, raw),) = value.items()
    if kind == "arrayValue":
        return tuple(_value(v) for v in raw.get("values", ()))
    if kind == "kvlistValue":
        return {kv["key"]: _value(kv["value"]) for kv in raw.get("values", ())}
    if kind == "intValue":
        return int(raw)
    return raw


def _attributes(kvs: list[dict[str, Any]]) -> dict[str, Any]:
    return {kv["key"]: _value(kv["value"]) for kv in kvs}


def load(flavour: str) -> dict[str, Any]:
    """The fixture of one flavour (``otel``, ``legacy``, ``v6``, ``v5``)."""
    fixture: dict[str, Any] = json.loads((FIXTURES / f"ai_sdk_{flavour}.json").read_text())
    return fixture


def spans(fixture: dict[str, Any]) -> list[RecordedSpan]:
    """Every span of every body, in start order."""
    out = []
    for body in fixture["otlp_json"]:
        for rs in body["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    out.append(
                        RecordedSpan(
                            name=s["name"],
                            trace_id=s["traceId"],
                            span_id=s["spanId"],
                            parent_id=s.get("parentSpanId") or None,
                            attributes=_attributes(s.get("attributes", [])),
                            events=tuple(
                                EventView(e["name"], _attributes(e.get("attributes", [])))
                                for e in s.get("events", ())
                            ),
                            error=(s.get("status") or {}).get("code") == 2,
                            start=int(s["startTimeUnixNano"]),
                            end=int(s["endTimeUnixNano"]),
                        )
                    )
    return sorted(out, key=lambda s: s.start)


def interaction_id(exchange: dict[str, Any]) -> str:
    """The interaction id the Node side gave the answer (its last reply line)."""
    return str(exchange["reply"][-1]["interaction_id"])


@dataclass(frozen=True)
class ServerAnswer:
    """What the model server answered to one request."""

    id: str | None
    text: str
    tool_calls: list[dict[str, Any]]
    prompt_tokens: int | None
    completion_tokens: int | None
    status: int


def replay(base_url: str, body: dict[str, Any]) -> ServerAnswer:
    """Send ``body`` again (the server is deterministic) and read its answer."""
    response = httpx.post(f"{base_url}/chat/completions", json=body, timeout=30)
    if response.status_code != 200:
        return ServerAnswer(None, "", [], None, None, response.status_code)
    if not body.get("stream"):
        data = response.json()
        message = data["choices"][0]["message"]
        usage = data["usage"]
        return ServerAnswer(
            data["id"],
            message.get("content") or "",
            [c["function"] for c in message.get("tool_calls") or ()],
            usage["prompt_tokens"],
            usage["completion_tokens"],
            200,
        )
    rid, text, args, name, usage = None, "", "", None, None
    for line in response.text.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        rid = chunk.get("id", rid)
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices", ()):
            delta = choice["delta"]
            text += delta.get("content") or ""
            for call in delta.get("tool_calls") or ():
                name = call["function"].get("name") or name
                args += call["function"].get("arguments") or ""
    calls = [{"name": name, "arguments": args}] if name else []
    return ServerAnswer(
        rid,
        text,
        calls,
        None if usage is None else usage["prompt_tokens"],
        None if usage is None else usage["completion_tokens"],
        200,
    )
