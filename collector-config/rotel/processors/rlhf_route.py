"""rotel trace processor: keep rlhf-otel spans, or keep everything else.

rotel runs one exporter per pipeline, so routing feedback traces apart from ordinary traces
takes two rotel instances, each with this processor in a different mode:

    RLHF_OTEL_ROUTE=rlhf      keep interaction/feedback spans (rlhf.record.kind, or a
                              GenAI chat/text_completion/generate_content operation, or
                              a gen_ai.evaluation.result event); drop the rest
    RLHF_OTEL_ROUTE=ordinary  the opposite: drop those spans, keep every other span

    RLHF_OTEL_ROTEL_ARRAY_FIX=1 (default) / 0
        rotel up to 0.0.1-alpha10 (the agent in pyrotel 0.0.1a15) writes the values of every
        array attribute in reverse order for each span or event whose attributes a Python
        processor has read (its SDK pops the values off a stack when it converts them back).
        Comparative feedback keeps its compared ids in an array, so this processor puts the
        arrays of the spans it keeps in reverse order first, which rotel turns back. Set 0
        with a rotel that is fixed (tests/collector's routing test tells).

Load it with ``rotel-agent start --otlp-with-trace-processor /abs/path/rlhf_route.py``
(``run-rotel.sh`` does this for the rlhf-only and ordinary-only profiles). It runs inside
rotel's embedded Python and imports only the standard library and rotel_sdk.
"""

import os

from rotel_sdk.open_telemetry.common.v1 import AnyValue, ArrayValue, KeyValueList

RECORD_KIND = "rlhf.record.kind"
OPERATION_NAME = "gen_ai.operation.name"
INTERACTION_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
FEEDBACK_EVENTS = ("gen_ai.evaluation.result", "rlhf.feedback")

MODE = os.environ.get("RLHF_OTEL_ROUTE", "rlhf").strip().lower()
if MODE not in ("rlhf", "ordinary"):
    raise ValueError(f"RLHF_OTEL_ROUTE must be 'rlhf' or 'ordinary'; got {MODE!r}")
KEEP_RLHF = MODE == "rlhf"
ARRAY_FIX = os.environ.get("RLHF_OTEL_ROTEL_ARRAY_FIX", "1").strip().lower() not in ("0", "false", "no")


def classify(span):
    """(is it an rlhf-otel span, were its events read)."""
    for kv in span.attributes:
        if kv.key == RECORD_KIND:
            return True, False
        if kv.key == OPERATION_NAME and kv.value is not None:
            if kv.value.value in INTERACTION_OPERATIONS:
                return True, False
    return any(event.name in FEEDBACK_EVENTS for event in span.events), True


def _reversed_copy(value):
    """An AnyValue payload whose arrays (at any depth) are in reverse order."""
    if isinstance(value, ArrayValue):
        out = ArrayValue()
        for item in reversed([v for v in value]):
            out.append(AnyValue(_reversed_copy(item.value)))
        return out
    if isinstance(value, KeyValueList):
        for kv in value:
            if kv.value is not None:
                kv.value = AnyValue(_reversed_copy(kv.value.value))
        return value
    return value


def _pre_reverse(attributes):
    for kv in attributes:
        if kv.value is not None and isinstance(kv.value.value, (ArrayValue, KeyValueList)):
            kv.value = AnyValue(_reversed_copy(kv.value.value))


def process_spans(resource_spans):
    """Called by rotel for each ResourceSpans; filters the spans in place."""
    for scope_spans in resource_spans.scope_spans:
        kept = []
        for span in scope_spans.spans:
            rlhf, events_read = classify(span)
            if rlhf != KEEP_RLHF:
                continue
            if ARRAY_FIX:
                _pre_reverse(span.attributes)
                if events_read:
                    for event in span.events:
                        _pre_reverse(event.attributes)
            kept.append(span)
        scope_spans.spans = kept
