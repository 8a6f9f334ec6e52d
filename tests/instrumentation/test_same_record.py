"""@trace_llm and the OpenAI instrumentation store the same record for the same response."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from rlhf_otel_instrumentation.openai import OpenAIInstrumentor

import rlhf_otel
from rlhf_otel import Interaction, RLHFLogger
from rlhf_otel.stores import MemoryStore

WEATHER_TOOL = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object"}},
    }
]
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
]
# Fields that differ between any two calls (ids, clocks) or that only the instrumentation
# can know (request parameters); everything else must be equal.
_VOLATILE = {
    "id",
    "timestamp",
    "latency_ms",
    "time_to_first_token_ms",
    "trace_id",
    "span_id",
    "model_params",
}

Call = Callable[[openai.OpenAI], Any]


def _chat(model: str, stream: bool, **extra: Any) -> Call:
    def call(client: openai.OpenAI) -> Any:
        options: dict[str, Any] = {"stream_options": {"include_usage": True}} if stream else {}
        return client.chat.completions.create(
            model=model,
            messages=MESSAGES,
            stream=stream,
            **options,
            **extra,  # type: ignore[arg-type]
        )

    return call


def _responses(stream: bool) -> Call:
    def call(client: openai.OpenAI) -> Any:
        return client.responses.create(model="gpt-test", input="Weather in Paris?", stream=stream)

    return call


CASES: dict[str, tuple[str, bool, Call]] = {
    "chat": ("gpt-test", False, _chat("gpt-test", False)),
    "chat streamed": ("gpt-test", True, _chat("gpt-test", True)),
    "tool call": ("tools", False, _chat("tools", False, tools=WEATHER_TOOL)),
    "tool call streamed": ("tools", True, _chat("tools", True, tools=WEATHER_TOOL)),
    "refusal": ("refuse", False, _chat("refuse", False)),
    "refusal streamed": ("refuse", True, _chat("refuse", True)),
    "responses api": ("gpt-test", False, _responses(False)),
    "responses api streamed": ("gpt-test", True, _responses(True)),
}


def _logger() -> tuple[RLHFLogger, MemoryStore]:
    store = MemoryStore(max_entries=None)
    logger = rlhf_otel.create_rlhf_logger(store=store, tracer_provider=TracerProvider())
    return logger, store


def _stored(logger: RLHFLogger, store: MemoryStore) -> Interaction:
    assert logger.flush()
    (record,) = store.scan_interactions()
    return record


def _comparable(record: Interaction) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(record).items() if k not in _VOLATILE}


@pytest.mark.parametrize("case", list(CASES))
def test_decorator_and_instrumentation_store_the_same_record(
    openai_client: openai.OpenAI, case: str
) -> None:
    """The same reply read through @trace_llm and through the instrumentation gives one record."""
    model, stream, call = CASES[case]
    responses = case.startswith("responses")
    decorated_logger, decorated_store = _logger()

    if stream:

        @rlhf_otel.trace_llm(model=model, provider="openai", logger=decorated_logger)
        def streamed(
            messages: list[dict[str, str]] | None = None, input: str = ""
        ) -> Iterator[Any]:
            yield from call(openai_client)

        for _ in streamed(input="Weather in Paris?") if responses else streamed(MESSAGES):
            pass
    else:

        @rlhf_otel.trace_llm(model=model, provider="openai", logger=decorated_logger)
        def plain(messages: list[dict[str, str]] | None = None, input: str = "") -> Any:
            return call(openai_client)

        if responses:
            plain(input="Weather in Paris?")
        else:
            plain(MESSAGES)
    by_decorator = _stored(decorated_logger, decorated_store)
    decorated_logger.close()

    instrumented_logger, instrumented_store = _logger()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(logger=instrumented_logger)
    try:
        result = call(openai_client)
        if stream:
            for _ in result:
                pass
    finally:
        instrumentor.uninstrument()
    by_instrumentation = _stored(instrumented_logger, instrumented_store)
    instrumented_logger.close()

    assert _comparable(by_decorator) == _comparable(by_instrumentation)
    assert by_decorator.finish_reasons  # every case ends with a reason, never empty
    if case.startswith("refusal"):
        assert by_decorator.response == "I cannot help with that request."
