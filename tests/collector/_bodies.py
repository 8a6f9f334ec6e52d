"""OTLP request bodies made by the real SDK encoder, and a small HTTP client for them."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def finished_spans(emit: Callable[[Tracer], object]) -> list[ReadableSpan]:
    """The spans ``emit`` makes with its own in-memory provider."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    emit(provider.get_tracer("test"))
    provider.shutdown()
    return list(exporter.get_finished_spans())


def request_of(spans: list[ReadableSpan]) -> trace_service_pb2.ExportTraceServiceRequest:
    """The ExportTraceServiceRequest the OTLP exporter would send for ``spans``."""
    return encode_spans(spans)


def protobuf_body(emit: Callable[[Tracer], object]) -> bytes:
    """A protobuf export body of the spans ``emit`` makes."""
    return bytes(request_of(finished_spans(emit)).SerializeToString())


def _hex_ids(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


def json_document(request: trace_service_pb2.ExportTraceServiceRequest) -> dict[str, Any]:
    """OTLP/JSON of ``request``: the protobuf JSON mapping with ids as hex, as the spec says."""
    doc = json_format.MessageToDict(request)
    _hex_ids(doc)
    return doc


def post(
    url: str,
    body: bytes,
    content_type: str = PROTOBUF,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST ``body`` with ``content_type``."""
    return client().post(
        url, content=body, headers={"Content-Type": content_type, **(headers or {})}
    )


_client: list[httpx.Client] = []


def client() -> httpx.Client:
    """One HTTP client for all tests (making one loads certificates: ~0.15 s)."""
    if not _client:
        _client.append(httpx.Client(timeout=30, verify=False))
    return _client[0]


def gzipped(body: bytes) -> bytes:
    """``body`` gzip-compressed."""
    return gzip.compress(body)


def partial_success(response: httpx.Response) -> tuple[int, str]:
    """(rejected_spans, error_message) of a 200 answer."""
    if response.headers["content-type"].startswith(JSON):
        msg = json_format.Parse(response.content, trace_service_pb2.ExportTraceServiceResponse())
    else:
        msg = trace_service_pb2.ExportTraceServiceResponse.FromString(response.content)
    return int(msg.partial_success.rejected_spans), str(msg.partial_success.error_message)
