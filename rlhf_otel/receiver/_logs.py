"""OTLP/HTTP log bodies (``/v1/logs``): the GenAI content records among them, for joining to
their spans; and the receiver's side of the dialect layer (spans held per trace)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

from rlhf_otel.receiver._decode import CONTENT_JSON, MalformedBody, _attributes, _value
from rlhf_otel.recording import EventView, is_dialect_event

__all__ = ["LogsDecoded", "decode_logs", "encode_logs_response", "parse_logs_request"]


@dataclass(slots=True)
class LogsDecoded:
    """The GenAI log records of one logs export, and how many others it held."""

    records: list[tuple[int, int, EventView]] = field(default_factory=list)
    received: int = 0
    ignored: int = 0


def _hex_to_b64(obj: Any) -> None:
    for key in ("traceId", "trace_id", "spanId", "span_id"):
        value = obj.get(key) if isinstance(obj, dict) else None
        if isinstance(value, str) and value:
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            except ValueError:
                raise MalformedBody(f"{key} {value!r} is not hex") from None


def parse_logs_request(
    body: bytes | bytearray, content_type: str
) -> logs_service_pb2.ExportLogsServiceRequest:
    """Parse a decompressed ``/v1/logs`` body (protobuf or OTLP/JSON).

    Raises:
        MalformedBody: the body is not an OTLP logs export.
    """
    request = logs_service_pb2.ExportLogsServiceRequest()
    try:
        if content_type == CONTENT_JSON:
            doc = json.loads(body)
            if not isinstance(doc, dict):
                raise MalformedBody("JSON body must be an object with 'resourceLogs'")
            for rl in doc.get("resourceLogs") or doc.get("resource_logs") or ():
                for sl in (rl or {}).get("scopeLogs") or (rl or {}).get("scope_logs") or ():
                    for lr in (sl or {}).get("logRecords") or (sl or {}).get("log_records") or ():
                        _hex_to_b64(lr)
            return json_format.ParseDict(doc, request, ignore_unknown_fields=True)
        request.ParseFromString(bytes(body))
    except MalformedBody:
        raise
    except (ValueError, TypeError, AttributeError, DecodeError, json_format.ParseError) as exc:
        raise MalformedBody(f"body is not an OTLP logs export: {exc}") from None
    except RecursionError:
        raise MalformedBody("body is nested too deeply") from None
    return request


def decode_logs(request: logs_service_pb2.ExportLogsServiceRequest) -> LogsDecoded:
    """The log records carrying GenAI content (by event name), with their trace and span."""
    out = LogsDecoded()
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            for lr in sl.log_records:
                out.received += 1
                attrs = _attributes(lr.attributes)
                name = lr.event_name or attrs.get("event.name")
                if (
                    not isinstance(name, str)
                    or not is_dialect_event(name)
                    or len(lr.trace_id) != 16
                    or len(lr.span_id) != 8
                ):
                    out.ignored += 1
                    continue
                body = _value(lr.body) if lr.HasField("body") else None
                out.records.append(
                    (
                        int.from_bytes(lr.trace_id, "big"),
                        int.from_bytes(lr.span_id, "big"),
                        EventView(name, attrs, body),
                    )
                )
    return out


def encode_logs_response(content_type: str) -> bytes:
    """An empty ``ExportLogsServiceResponse`` (every record accepted)."""
    response = logs_service_pb2.ExportLogsServiceResponse()
    if content_type == CONTENT_JSON:
        return json_format.MessageToJson(response, indent=None).encode()
    return bytes(response.SerializeToString())
