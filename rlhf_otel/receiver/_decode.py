"""OTLP/HTTP trace bodies to span-like objects and records, and the replies the spec asks for."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2  # type: ignore[import-untyped]  # no stubs shipped
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from rlhf_otel import attributes as A
from rlhf_otel.recording import (
    FEEDBACK_EVENT_NAMES,
    TraceAssembler,
    decode_span,
    is_dialect_event,
    is_dialect_key,
    is_foreign,
)
from rlhf_otel.records import Feedback, Interaction

__all__ = [
    "CONTENT_JSON",
    "CONTENT_PROTOBUF",
    "BodyTooLarge",
    "Busy",
    "Decoded",
    "MalformedBody",
    "OtlpEvent",
    "OtlpLink",
    "OtlpSpan",
    "decode_request",
    "decompress",
    "encode_response",
    "encode_status",
    "parse_request",
]

CONTENT_PROTOBUF: Final = "application/x-protobuf"
CONTENT_JSON: Final = "application/json"
_KINDS: Final = {
    trace_pb2.Span.SPAN_KIND_INTERNAL: SpanKind.INTERNAL,
    trace_pb2.Span.SPAN_KIND_SERVER: SpanKind.SERVER,
    trace_pb2.Span.SPAN_KIND_CLIENT: SpanKind.CLIENT,
    trace_pb2.Span.SPAN_KIND_PRODUCER: SpanKind.PRODUCER,
    trace_pb2.Span.SPAN_KIND_CONSUMER: SpanKind.CONSUMER,
}
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)
_STATUS_ERROR: Final = Status(StatusCode.ERROR)
_STATUS_UNSET: Final = Status()
# SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK | SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_REMOTE_PARENT: Final = 0x300
_MAX_REASONS: Final = 5
_INFLATE_STEP: Final = 1 << 20


class MalformedBody(ValueError):
    """The request body is not a valid OTLP trace export (HTTP 400)."""


class BodyTooLarge(ValueError):
    """The (decompressed) request body is over the configured limit (HTTP 413)."""


class Busy(Exception):
    """The memory shared by requests in progress is spent (HTTP 503, retry later)."""


@dataclass(frozen=True, slots=True)
class OtlpEvent:
    """A span event as received."""

    name: str
    attributes: Mapping[str, Any]
    timestamp: int


@dataclass(frozen=True, slots=True)
class OtlpLink:
    """A span link as received."""

    context: SpanContext
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class OtlpSpan:
    """A received span, shaped like the SDK's ``ReadableSpan`` where the exporter looks.

    ``kind`` is ``None`` when the sender used a value this receiver does not know (OTLP enums
    are open); the span is still accepted.
    """

    name: str
    context: SpanContext
    attributes: Mapping[str, Any]
    events: Sequence[OtlpEvent] = ()
    links: Sequence[OtlpLink] = ()
    start_time: int | None = None
    end_time: int | None = None
    kind: SpanKind | None = SpanKind.INTERNAL
    parent_span_id: int | None = None
    resource: Mapping[str, Any] = field(default_factory=dict)
    status: Status = field(default_factory=Status)
    parent_is_remote: bool = False

    def get_span_context(self) -> SpanContext:
        """The span's own context (trace id and span id)."""
        return self.context


@dataclass(slots=True)
class Decoded:
    """What one export request holds for the store, and what it cannot take."""

    interactions: list[Interaction] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    spans: int = 0
    kept_spans: int = 0
    ignored_spans: int = 0
    rejected_spans: int = 0
    reasons: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    """Spans of other libraries a dialect knows but that hold no interaction, by reason."""

    @property
    def records(self) -> int:
        """Interactions plus feedback."""
        return len(self.interactions) + len(self.feedback)

    def reject(self, n: int, reason: str) -> None:
        """Count ``n`` spans rejected for ``reason`` (the first few reasons are kept)."""
        self.rejected_spans += n
        if len(self.reasons) < _MAX_REASONS:
            self.reasons.append(reason)

    def error_message(self) -> str:
        """The partial-success message: how many spans were rejected, and why."""
        if not self.rejected_spans:
            return ""
        more = self.rejected_spans - len(self.reasons)
        tail = f"; and {more} more" if more > 0 else ""
        return f"rejected {self.rejected_spans} span(s): " + "; ".join(self.reasons) + tail


# ----------------------------------------------------------------------------- bodies


def decompress(
    body: bytes,
    encoding: str,
    limit: int,
    reserve: Callable[[int], None] | None = None,
) -> bytes | bytearray:
    """Undo ``Content-Encoding`` (``gzip``, ``deflate`` or identity) with a size cap.

    Inflates in steps of at most 1 MiB, calling ``reserve(n)`` before keeping ``n`` more
    bytes (it raises :class:`Busy` when the receiver's shared budget is spent), so no
    request ever holds more than it was granted. A gzip body may hold several members
    (RFC 1952), all decoded; zero padding after the last is ignored, anything else is not.

    Raises:
        MalformedBody: the body is not valid for its encoding.
        BodyTooLarge: the decompressed body would exceed ``limit`` bytes.
        Busy: ``reserve`` refused.
        ValueError: the encoding is not supported (the caller answers 415).
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ValueError(f"unsupported Content-Encoding {encoding!r}; use gzip, deflate or none")
    # wbits 47 accepts gzip and zlib headers alike; raw deflate streams need -15.
    wbits = 47 if encoding != "deflate" or body[:1] == b"\x78" else -15
    out = bytearray()
    data = body
    try:
        while True:
            inflater = zlib.decompressobj(wbits)
            while not inflater.eof:
                chunk = inflater.decompress(data, _INFLATE_STEP)
                data = inflater.unconsumed_tail
                if not chunk and not data:
                    chunk = inflater.flush()
                    if not inflater.eof:
                        raise MalformedBody(f"{encoding} body is truncated")
                if len(out) + len(chunk) > limit:
                    raise BodyTooLarge(f"decompressed body is over the {limit}-byte limit")
                if reserve is not None and chunk:
                    reserve(len(chunk))
                out += chunk
            data = inflater.unused_data
            if not data.strip(b"\0"):
                return out
            if wbits != 47 or data[:2] != b"\x1f\x8b":
                raise MalformedBody(f"{encoding} body has {len(data)} bytes of trailing data")
    except zlib.error as exc:
        raise MalformedBody(f"body is not valid {encoding}: {exc}") from None


_ID_KEYS: Final = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")


def _hex_ids_to_base64(obj: dict[str, Any]) -> None:
    for key in _ID_KEYS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            except ValueError:
                raise MalformedBody(f"{key} {value!r} is not hex") from None


def _json_to_request(body: bytes | bytearray) -> trace_service_pb2.ExportTraceServiceRequest:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise MalformedBody("JSON body is nested too deeply") from None
    if not isinstance(doc, dict):
        raise MalformedBody("JSON body must be an object with 'resourceSpans'")
    # OTLP/JSON writes ids as hex; the protobuf JSON mapping expects base64.
    for rs in _list(doc, "resourceSpans", "resource_spans"):
        for ss in _list(rs, "scopeSpans", "scope_spans"):
            for span in _list(ss, "spans"):
                _hex_ids_to_base64(span)
                for link in _list(span, "links"):
                    _hex_ids_to_base64(link)
    try:
        return json_format.ParseDict(
            doc, trace_service_pb2.ExportTraceServiceRequest(), ignore_unknown_fields=True
        )
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise MalformedBody(f"JSON body is not an OTLP trace export: {exc}") from None
    except RecursionError:
        raise MalformedBody("JSON body is nested too deeply") from None


def _list(obj: object, *keys: str) -> list[Any]:
    if not isinstance(obj, dict):
        raise MalformedBody("expected a JSON object in the OTLP structure")
    for key in keys:
        value = obj.get(key)
        if value is not None:
            if not isinstance(value, list):
                raise MalformedBody(f"{key!r} must be a list")
            return value
    return []


def parse_request(
    body: bytes | bytearray, content_type: str
) -> trace_service_pb2.ExportTraceServiceRequest:
    """Parse a decompressed body of ``content_type`` (protobuf or JSON).

    Raises:
        MalformedBody: the body does not parse as an OTLP trace export.
    """
    if content_type == CONTENT_JSON:
        return _json_to_request(body)
    request = trace_service_pb2.ExportTraceServiceRequest()
    try:
        request.ParseFromString(bytes(body) if isinstance(body, bytearray) else body)
    except DecodeError as exc:
        raise MalformedBody(f"body is not a protobuf ExportTraceServiceRequest: {exc}") from None
    except RecursionError:
        raise MalformedBody("protobuf body is nested too deeply") from None
    return request


# ----------------------------------------------------------------------------- spans


def _value(v: common_pb2.AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return tuple(_value(x) for x in v.array_value.values)
    if which == "kvlist_value":
        return _attributes(v.kvlist_value.values)
    return getattr(v, which)


def _attributes(kvs: Sequence[common_pb2.KeyValue]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        v = kv.value
        which = v.WhichOneof("value")
        if which is None:
            continue
        # Scalars inline: this loop is most of the decoding cost.
        if which == "array_value" or which == "kvlist_value":
            out[kv.key] = _value(v)
        else:
            out[kv.key] = getattr(v, which)
    return out


def _context(trace_id: bytes, span_id: bytes) -> SpanContext | None:
    if len(trace_id) != 16 or len(span_id) != 8:
        return None
    tid, sid = int.from_bytes(trace_id, "big"), int.from_bytes(span_id, "big")
    if tid == 0 or sid == 0:
        return None
    return SpanContext(tid, sid, is_remote=True, trace_flags=_SAMPLED)


def _wanted(span: trace_pb2.Span) -> bool:
    """Whether a span may carry records, decided before converting all it holds."""
    for kv in span.attributes:
        key = kv.key
        if key == A.RLHF_RECORD_KIND or is_dialect_key(key):
            return True
    return any(e.name in FEEDBACK_EVENT_NAMES or is_dialect_event(e.name) for e in span.events)


def _parent(span_id: bytes) -> int | None:
    return (int.from_bytes(span_id, "big") or None) if len(span_id) == 8 else None


def _span(span: trace_pb2.Span, ctx: SpanContext, resource: Mapping[str, Any]) -> OtlpSpan:
    links = []
    for link in span.links:
        link_ctx = _context(link.trace_id, link.span_id)
        if link_ctx is not None:
            links.append(OtlpLink(link_ctx, _attributes(link.attributes)))
    return OtlpSpan(
        name=span.name,
        context=ctx,
        attributes=_attributes(span.attributes),
        events=tuple(
            OtlpEvent(e.name, _attributes(e.attributes), e.time_unix_nano) for e in span.events
        ),
        links=tuple(links),
        start_time=span.start_time_unix_nano or None,
        end_time=span.end_time_unix_nano or None,
        kind=_KINDS.get(span.kind) if span.kind else SpanKind.INTERNAL,
        parent_span_id=_parent(span.parent_span_id),
        resource=resource,
        parent_is_remote=span.flags & _REMOTE_PARENT == _REMOTE_PARENT,
        status=_STATUS_ERROR
        if span.status.code == trace_pb2.Status.STATUS_CODE_ERROR
        else _STATUS_UNSET,
    )


def decode_request(
    request: trace_service_pb2.ExportTraceServiceRequest,
    assembler: TraceAssembler | None = None,
) -> Decoded:
    """Records of our interaction and feedback spans, and GenAI spans from other libraries.

    Spans that carry no record are counted as ignored (they are accepted: nothing to store).
    A span that claims to be ours but cannot be read is rejected with the reason. With an
    ``assembler``, other libraries' spans (and the shape of their traces) go to it and the
    records it settles are returned (see ``TraceAssembler``).
    """
    result = Decoded()
    held: list[tuple[OtlpSpan, bool]] = []
    shape: list[trace_pb2.Span] = []  # other spans: the shape of traces with held spans
    for rs in request.resource_spans:
        resource: dict[str, Any] | None = None
        for ss in rs.scope_spans:
            for span in ss.spans:
                result.spans += 1
                if not _wanted(span):
                    result.ignored_spans += 1
                    if assembler is not None and len(span.trace_id) == 16:
                        shape.append(span)
                    continue
                ctx = _context(span.trace_id, span.span_id)
                if ctx is None:
                    result.reject(
                        1,
                        f"span {span.name!r} has an invalid trace_id/span_id "
                        "(need 16 and 8 non-zero bytes)",
                    )
                    continue
                if resource is None:
                    resource = _attributes(rs.resource.attributes)
                otlp_span = _span(span, ctx, resource)
                if assembler is not None and is_foreign(otlp_span):
                    held.append((otlp_span, True))
                    result.kept_spans += 1
                    continue
                try:
                    found = decode_span(otlp_span)
                    interaction, feedback = found.interaction, found.feedback
                except (KeyError, ValueError, TypeError, AssertionError, AttributeError) as exc:
                    result.reject(1, f"span {span.name!r} ({_ids(ctx)}): {_why(exc)}")
                    continue
                if interaction is None and not feedback:
                    result.ignored_spans += 1
                    if found.skipped is not None:
                        result.skipped[found.skipped] = result.skipped.get(found.skipped, 0) + 1
                    continue
                result.kept_spans += 1
                if interaction is not None:
                    result.interactions.append(interaction)
                result.feedback.extend(feedback)
    if assembler is not None:
        # Other libraries' spans first, then the rest of their traces (in any order sent).
        traces = {s.context.trace_id for s, _ in held}
        for span in shape:
            trace_id = int.from_bytes(span.trace_id, "big")
            ctx = _context(span.trace_id, span.span_id)
            if ctx is not None and (trace_id in traces or assembler.holds(trace_id)):
                held.append((_span(span, ctx, {}), False))
        settled = assembler.spans(held)
        result.interactions.extend(settled.interactions)
        result.feedback = assembler.feedback(result.feedback) + settled.feedback
    return result


def _ids(ctx: SpanContext) -> str:
    return f"{ctx.trace_id:032x}-{ctx.span_id:016x}"


def _why(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing attribute {exc.args[0]!r}" if exc.args else "missing attribute"
    name = type(exc).__name__
    return f"{name}: {exc}" if str(exc) else f"bad attribute value ({name})"


# ----------------------------------------------------------------------------- replies


def encode_response(content_type: str, rejected: int = 0, message: str = "") -> bytes:
    """An ``ExportTraceServiceResponse``, with ``partial_success`` when spans were rejected."""
    response = trace_service_pb2.ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if content_type == CONTENT_JSON:
        return json_format.MessageToJson(response, indent=None).encode()
    return bytes(response.SerializeToString())


def encode_status(content_type: str, code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` body, as the spec asks for error responses."""
    status = status_pb2.Status(code=code, message=message)
    if content_type == CONTENT_JSON:
        return json_format.MessageToJson(status, indent=None).encode()
    return bytes(status.SerializeToString())
