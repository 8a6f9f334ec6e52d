"""A small app for the dialect matrix, run as a subprocess in the venv of one instrumentation
family: it instruments a real client with that family's real package, makes one call per
case (plain, streamed, tool call, error) each inside its own request span, logs feedback by
the id it can see (its request span's context) and exits. Records reach the store through
rlhf-otel's exporter in-process (``--export direct``) or over OTLP to ``rlhf-otel collect``
(``--export otlp``).

Usage: python app.py FAMILY PROVIDER BASE_URL DATA_DIR OUT_JSON [--export otlp --endpoint URL]
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

import rlhf_otel
from rlhf_otel.stores import JsonlStore

PROMPT = "Capital of France?"
SYSTEM = "Answer briefly."
TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TOOL_ANTHROPIC = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _instrument(family: str, provider: str, tracer_provider: TracerProvider, logs: Any) -> Any:
    if family == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        inst = OpenAIInstrumentor()
        inst.instrument(tracer_provider=tracer_provider, logger_provider=logs)
        return inst
    if family == "openinference":
        if provider == "anthropic":
            from openinference.instrumentation.anthropic import AnthropicInstrumentor

            inst = AnthropicInstrumentor()
        else:
            from openinference.instrumentation.openai import OpenAIInstrumentor as OIOpenAI

            inst = OIOpenAI()
        inst.instrument(tracer_provider=tracer_provider)
        return inst
    if family in ("openllmetry", "openllmetry-legacy"):
        if provider == "anthropic":
            from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as LLAnth

            inst = LLAnth()
        else:
            from opentelemetry.instrumentation.openai import OpenAIInstrumentor as LLOpenAI

            inst = LLOpenAI()
        inst.instrument(tracer_provider=tracer_provider, logger_provider=logs)
        return inst
    if family == "dual":  # two instrumentations of one client at once
        from openinference.instrumentation.openai import OpenAIInstrumentor as OIOpenAI
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as V2

        v2, oi = V2(), OIOpenAI()
        v2.instrument(tracer_provider=tracer_provider, logger_provider=logs)
        oi.instrument(tracer_provider=tracer_provider)
        return _Both(v2, oi)
    if family == "langchain":
        from openinference.instrumentation.langchain import LangChainInstrumentor

        inst = LangChainInstrumentor()
        inst.instrument(tracer_provider=tracer_provider)
        return inst
    raise SystemExit(f"unknown family {family!r}")


class _Both:
    def __init__(self, *insts: Any) -> None:
        self.insts = insts

    def uninstrument(self) -> None:
        for inst in self.insts:
            inst.uninstrument()


def logfire_tracer(logfire: Any) -> Any:
    """A tracer of Logfire's own provider (the app's request spans live there)."""
    from opentelemetry import trace

    return trace.get_tracer_provider().get_tracer("matrix-app")


def _openai_case(client: Any, case: str) -> None:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]
    if case == "plain":
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    elif case == "stream":
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        for _ in stream:
            pass
    elif case == "tool":
        client.chat.completions.create(model="tools", messages=messages, tools=[TOOL_OPENAI])
    elif case == "error":
        client.chat.completions.create(model="error-500", messages=messages)


def _anthropic_case(client: Any, case: str) -> None:
    messages = [{"role": "user", "content": PROMPT}]
    base = {"max_tokens": 64, "system": SYSTEM, "messages": messages}
    if case == "plain":
        client.messages.create(model="claude-3-5-haiku", **base)
    elif case == "stream":
        with client.messages.stream(model="claude-3-5-haiku", **base) as stream:
            for _ in stream.text_stream:
                pass
    elif case == "tool":
        client.messages.create(model="tools", tools=[TOOL_ANTHROPIC], **base)
    elif case == "error":
        client.messages.create(model="error-500", **base)


def _langchain_case(base_url: str, case: str) -> None:
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_openai import ChatOpenAI

    model = {"tool": "tools", "error": "error-500"}.get(case, "gpt-4o-mini")
    chat = ChatOpenAI(
        model=model, base_url=base_url, api_key="test", max_retries=0, stream_usage=True
    )
    messages = [SystemMessage(SYSTEM), HumanMessage(PROMPT)]
    if case == "chain":  # prompt | model | parser: one answer, a CHAIN around an LLM call
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate

        prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("user", "{question}")])
        (prompt | chat | StrOutputParser()).invoke({"question": PROMPT})
    elif case == "stream":
        for _ in chat.stream(messages):
            pass
    elif case == "tool":
        chat.bind_tools([TOOL_OPENAI]).invoke(messages)
    else:
        chat.invoke(messages)


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("family", "provider", "base_url", "data_dir", "out"):
        parser.add_argument(name)
    parser.add_argument("--export", default="direct", choices=("direct", "otlp"))
    parser.add_argument("--endpoint", default="")
    args = parser.parse_args()

    tracer_provider = TracerProvider()
    if args.export == "otlp":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tracer_provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{args.endpoint}/v1/traces"))
        )
        logs = LoggerProvider()
        logs.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{args.endpoint}/v1/logs"))
        )
        # Feedback goes the same way: a logger whose own store is a throwaway.
        logger = rlhf_otel.create_rlhf_logger(
            store=rlhf_otel.stores.MemoryStore(), tracer_provider=tracer_provider
        )
    else:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

        from rlhf_otel.pipeline import RLHFLogRecordExporter

        logger = rlhf_otel.create_rlhf_logger(
            store=JsonlStore(args.data_dir), tracer_provider=tracer_provider
        )
        logs = LoggerProvider()
        logs.add_log_record_processor(
            SimpleLogRecordProcessor(RLHFLogRecordExporter(logger.span_records))
        )
    if args.family == "logfire":
        import logfire

        # Logfire runs its own tracer provider; the logger's span processor rides along.
        logfire.configure(
            send_to_logfire=False,
            console=False,
            additional_span_processors=[logger.span_records],
        )
        inst = _Both()
        tracer: Any = logfire_tracer(logfire)
    else:
        inst = _instrument(args.family, args.provider, tracer_provider, logs)
        tracer = tracer_provider.get_tracer("matrix-app")
    if args.provider == "anthropic":
        import anthropic

        client: Any = anthropic.Anthropic(
            base_url=args.base_url.removesuffix("/v1"), api_key="test", max_retries=0
        )
    else:
        import openai

        client = openai.OpenAI(base_url=args.base_url, api_key="test", max_retries=0)
    if args.family == "logfire":
        if args.provider == "anthropic":
            logfire.instrument_anthropic(client)
        else:
            logfire.instrument_openai(client)
    seen: dict[str, dict[str, Any]] = {}
    cases = ["plain", "stream", "tool", "error"] + (["chain"] if args.family == "langchain" else [])
    for case in cases:
        failed = None
        with tracer.start_as_current_span(f"POST /chat {case}") as request:
            ctx = request.get_span_context()
            try:
                if args.family == "langchain":
                    _langchain_case(args.base_url, case)
                elif args.provider == "anthropic":
                    _anthropic_case(client, case)
                else:
                    _openai_case(client, case)
            except Exception as exc:  # the error case: the app carries on
                failed = type(exc).__name__
        seen[case] = {
            "id": f"{ctx.trace_id:032x}-{ctx.span_id:016x}",
            "trace_id": f"{ctx.trace_id:032x}",
            "error": failed,
        }
    # Feedback by the ids the app can see: its request span's context, or the bare trace id.
    logger.log_rating(seen["plain"]["id"], 5, user_id="u1")
    logger.log_binary_feedback(seen["stream"]["trace_id"], True, user_id="u1")
    logger.log_comparative_feedback(seen["plain"]["id"], [seen["tool"]["id"]], user_id="u1")
    logger.close()
    logs.shutdown()
    tracer_provider.shutdown()
    inst.uninstrument()
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump({"cases": seen, "pid": os.getpid()}, fh)


if __name__ == "__main__":
    main()
