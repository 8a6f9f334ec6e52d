"""OTLP out: an exporter to any collector, and the content rules for what leaves the process.

Example::

    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from rlhf_otel.pipeline._otlp import ContentCaptureSpanExporter, build_otlp_exporter

    exporter = ContentCaptureSpanExporter(build_otlp_exporter("http://127.0.0.1:4318"))
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from rlhf_otel import _env
from rlhf_otel import attributes as A
from rlhf_otel._counters import DropCounter
from rlhf_otel._errors import ConfigurationError
from rlhf_otel._redact import ContentPolicy
from rlhf_otel.pipeline._otlp_processor import OTLPSpanProcessor
from rlhf_otel.recording import carries_records as is_rlhf_span

if TYPE_CHECKING:
    from rlhf_otel._config import RLHFConfig

__all__ = [
    "CONTENT_ATTRIBUTES",
    "ENV_CAPTURE_CONTENT",
    "ContentCaptureSpanExporter",
    "SpanRedactor",
    "add_otlp_export",
    "build_otlp_exporter",
    "capture_content_from_env",
    "is_rlhf_span",
    "strip_content",
    "text_redaction_hook",
]

_logger = logging.getLogger("rlhf_otel.otlp")

ENV_CAPTURE_CONTENT: Final = _env.OTEL_CAPTURE_CONTENT
ENV_PROTOCOL: Final = _env.OTEL_PROTOCOL
ENV_TRACES_PROTOCOL: Final = _env.OTEL_TRACES_PROTOCOL
PROTOCOLS: Final = ("http/protobuf", "grpc")

CONTENT_ATTRIBUTES: Final = frozenset(
    {
        A.GEN_AI_INPUT_MESSAGES,
        A.GEN_AI_OUTPUT_MESSAGES,
        A.GEN_AI_SYSTEM_INSTRUCTIONS,
        A.GEN_AI_EVALUATION_EXPLANATION,
        A.RLHF_FEEDBACK_COMMENT,
        A.RLHF_FEEDBACK_REASON,
        "gen_ai.prompt",
        "gen_ai.completion",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    }
)
"""Attributes that hold what users and models said; stripped when content capture is off."""
# Older instrumentations index messages (gen_ai.prompt.0.content) or put them on events.
_CONTENT_PREFIXES: Final = ("gen_ai.prompt.", "gen_ai.completion.")
_EVENT_CONTENT_KEYS: Final = frozenset({"content", "message", "body"})
_TRUE: Final = frozenset({"true", "1", "yes", "on", "span_only", "span_and_event"})
_FALSE: Final = frozenset({"false", "0", "no", "off", "no_content", "event_only"})

SpanRedactor = Callable[[ReadableSpan], "ReadableSpan | None"]
"""A hook that returns the span to send (changed or not), or ``None`` to keep it home."""


def capture_content_from_env(
    environ: Mapping[str, str] | None = None, *, default: bool = True
) -> bool:
    """Whether message content may leave over OTLP, per ``OTEL_INSTRUMENTATION_GENAI_...``.

    Unset: ``default`` (True: prompts and responses are the training data). ``true``/``1``/
    ``yes``/``SPAN_ONLY``/``SPAN_AND_EVENT``: True. ``false``/``0``/``no``/``NO_CONTENT``/
    ``EVENT_ONLY``: False. Any other value: False, with a warning (privacy wins a tie).
    """
    env = os.environ if environ is None else environ
    raw = env.get(ENV_CAPTURE_CONTENT)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value not in _FALSE:
        _logger.warning(
            "%s=%r is not one of true/false/NO_CONTENT/SPAN_ONLY/EVENT_ONLY/SPAN_AND_EVENT; "
            "message content will not be exported",
            ENV_CAPTURE_CONTENT,
            raw,
        )
    return False


def _is_content(key: str) -> bool:
    return key in CONTENT_ATTRIBUTES or key.startswith(_CONTENT_PREFIXES)


def _strip(attrs: Mapping[str, Any] | None, *, event: bool = False) -> dict[str, Any] | None:
    """``attrs`` without content, or None when nothing had to go."""
    if not attrs:
        return None
    if not any(_is_content(k) or (event and k in _EVENT_CONTENT_KEYS) for k in attrs):
        return None
    out = {
        k: v
        for k, v in attrs.items()
        if not (_is_content(k) or (event and k in _EVENT_CONTENT_KEYS))
    }
    # A text feedback is its comment; it stays readable as feedback with the text withheld.
    if attrs.get(A.RLHF_FEEDBACK_TYPE) == "text" and A.RLHF_FEEDBACK_COMMENT in attrs:
        out[A.RLHF_FEEDBACK_COMMENT] = ""
    return out


def strip_content(span: ReadableSpan) -> ReadableSpan:
    """``span`` without message content in its attributes and events (the same object if none)."""
    attrs = _strip(span.attributes)
    events: list[Event] | None = None
    for i, ev in enumerate(span.events):
        ev_attrs = _strip(ev.attributes, event=ev.name.startswith("gen_ai."))
        if ev_attrs is not None:
            if events is None:
                events = list(span.events)
            events[i] = Event(ev.name, ev_attrs, ev.timestamp)
    if attrs is None and events is None:
        return span
    return _with_attributes(
        span,
        attrs if attrs is not None else (span.attributes or {}),
        events if events is not None else span.events,
    )


class ContentCaptureSpanExporter(SpanExporter):
    """Wraps the OTLP exporter: applies the redaction hook and the content capture rule.

    Only what leaves over OTLP is changed; the store path keeps full content.

    Args:
        exporter: the exporter that sends (usually :func:`build_otlp_exporter`'s).
        capture_content: False strips message content (``gen_ai.input.messages``,
            ``gen_ai.output.messages``, system instructions, feedback comments and reasons,
            evaluation explanations, older ``gen_ai.prompt*``/``gen_ai.completion*``);
            ``None`` (default) reads ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``.
        redact: runs first on every span; returns the span to send or ``None`` to withhold
            it. A hook that raises withholds the span (counted in ``dropped()``).
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        capture_content: bool | None = None,
        redact: SpanRedactor | None = None,
    ) -> None:
        self.exporter = exporter
        self.capture_content = (
            capture_content_from_env() if capture_content is None else capture_content
        )
        self._redact = redact
        self._drops = DropCounter()

    def _prepare(self, span: ReadableSpan) -> ReadableSpan | None:
        if self._redact is not None:
            try:
                redacted = self._redact(span)
            except Exception:  # noqa: BLE001 - a broken hook must not send unredacted data
                _logger.exception("redaction hook failed; span %r withheld from OTLP", span.name)
                self._drops.add("redact_error")
                return None
            if redacted is None:
                self._drops.add("redacted")
                return None
            span = redacted
        return span if self.capture_content else strip_content(span)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send the prepared spans; spans the hook withheld are not an export failure."""
        ready = [s for s in (self._prepare(span) for span in spans) if s is not None]
        if not ready:
            return SpanExportResult.SUCCESS
        return self.exporter.export(ready)

    def dropped(self) -> Mapping[str, int]:
        """Spans kept home, by reason (``redacted``, ``redact_error``)."""
        return self._drops.snapshot()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the wrapped exporter."""
        return self.exporter.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self.exporter.shutdown()


def _traces_url(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"OTLP endpoint {endpoint!r} must be an http:// or https:// URL, "
            "e.g. http://127.0.0.1:4318"
        )
    if parts.path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


def build_otlp_exporter(
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    protocol: str | None = None,
    *,
    timeout: float | None = None,
) -> SpanExporter:
    """An OTLP span exporter; arguments win over the standard ``OTEL_EXPORTER_OTLP_*`` variables.

    Args:
        endpoint: for HTTP, a base URL (``http://host:4318``, ``/v1/traces`` is appended) or
            a full URL with a path (used as is); for gRPC, ``http://host:4317``. ``None``:
            ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, then ``OTEL_EXPORTER_OTLP_ENDPOINT``,
            then ``http://localhost:4318``.
        headers: sent with every export; ``None``: ``OTEL_EXPORTER_OTLP_(TRACES_)HEADERS``.
        protocol: ``"http/protobuf"`` or ``"grpc"`` (needs
            ``opentelemetry-exporter-otlp-proto-grpc``); ``None``:
            ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``, then ``OTEL_EXPORTER_OTLP_PROTOCOL``, then
            ``"http/protobuf"``.
        timeout: seconds per export; ``None``: ``OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT`` or 10.

    Compression, certificates and client keys come from the ``OTEL_EXPORTER_OTLP_*``
    variables as the OpenTelemetry exporters read them.

    Raises:
        ConfigurationError: unknown protocol, bad endpoint, or exporter package missing.
    """
    chosen = (
        (
            protocol
            or os.environ.get(ENV_TRACES_PROTOCOL)
            or os.environ.get(ENV_PROTOCOL)
            or "http/protobuf"
        )
        .strip()
        .lower()
    )
    if chosen == "http/protobuf":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise ConfigurationError(
                "OTLP over HTTP needs opentelemetry-exporter-otlp-proto-http: "
                "pip install 'rlhf-otel[otlp]'"
            ) from None
        url = _traces_url(endpoint) if endpoint else None
        return OTLPSpanExporter(endpoint=url, headers=headers, timeout=timeout)
    if chosen == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found, unused-ignore]  # optional extra
                OTLPSpanExporter as GrpcSpanExporter,
            )
        except ImportError:
            raise ConfigurationError(
                "OTLP over gRPC needs opentelemetry-exporter-otlp-proto-grpc: "
                "pip install 'rlhf-otel[otlp-grpc]'"
            ) from None
        exporter: SpanExporter = GrpcSpanExporter(
            endpoint=endpoint,
            headers=dict(headers) if headers is not None else None,
            timeout=timeout,
        )
        return exporter
    raise ConfigurationError(
        f"OTLP protocol {chosen!r} is not supported; use one of {', '.join(PROTOCOLS)} "
        "(the OpenTelemetry Python SDK has no http/json exporter)"
    )


# ----------------------------------------------------------------------------- wiring


def _redact_json_text(value: str, policy: ContentPolicy) -> str:
    try:
        doc = json.loads(value)
    except ValueError:
        return policy.text(value, None)
    if not isinstance(doc, (list, dict)):
        return policy.text(value, None)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return policy.text(node, None)
        if isinstance(node, list):
            return [walk(x) for x in node]
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        return node

    return json.dumps(walk(doc), ensure_ascii=False, separators=(",", ":"))


def text_redaction_hook(redactors: Sequence[Callable[[str], str]]) -> SpanRedactor:
    """A span hook that runs text ``redactors`` over the content of spans rlhf-otel did not make.

    Spans that rlhf-otel made (``rlhf.record.kind`` set) were redacted when captured and
    pass unchanged. In other spans, every content attribute (see :data:`CONTENT_ATTRIBUTES`)
    is redacted: JSON message lists string by string, plain strings as a whole. A redactor
    that raises turns the text into ``[REDACTION FAILED]``.
    """
    policy = ContentPolicy(redactors)

    def redact(span: ReadableSpan) -> ReadableSpan:
        attrs = span.attributes or {}
        if A.RLHF_RECORD_KIND in attrs or not any(_is_content(k) for k in attrs):
            return span
        new: dict[str, Any] = dict(attrs)
        for key, value in attrs.items():
            if not _is_content(key):
                continue
            if isinstance(value, str):
                new[key] = _redact_json_text(value, policy)
            elif isinstance(value, (list, tuple)):
                new[key] = tuple(policy.text(v, None) if isinstance(v, str) else v for v in value)
        return _with_attributes(span, new)

    return redact


def _with_attributes(
    span: ReadableSpan, attributes: Mapping[str, Any], events: Sequence[Event] | None = None
) -> ReadableSpan:
    """A copy of ``span`` with other attributes (and events)."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=span.events if events is None else events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def add_otlp_export(tracer_provider: TracerProvider, config: RLHFConfig) -> OTLPSpanProcessor:
    """Send the interaction and feedback spans of ``tracer_provider`` to ``config.otlp_endpoint``.

    Only spans that carry interactions or feedback are sent (the app's own exporter, if it
    has one, already sends the rest). ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
    decides whether message content leaves, and when it is unset ``config.capture_content``
    does; ``config.redact`` applies to GenAI spans of other libraries. The other
    ``OTEL_EXPORTER_OTLP_*`` variables (protocol, headers, compression, timeout) apply.

    Returns:
        The processor, already added to ``tracer_provider``; ``shutdown()`` it on close.
    """
    exporter = ContentCaptureSpanExporter(
        build_otlp_exporter(config.otlp_endpoint),
        capture_content=capture_content_from_env(default=config.capture_content),
        redact=text_redaction_hook(config.redact) if config.redact else None,
    )
    processor = OTLPSpanProcessor(
        exporter,
        wanted=is_rlhf_span,
        schedule_delay=min(config.batch_flush_interval, 1.0),
        max_queue_size=config.max_queue_size,
    )
    tracer_provider.add_span_processor(processor)
    return processor
