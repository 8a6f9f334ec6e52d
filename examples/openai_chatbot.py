"""A chat loop whose every OpenAI call is an rlhf-otel interaction, with thumbs feedback.

Runs against a local OpenAI-compatible server (the one the test suite uses) unless you pass
``--base-url`` and set ``OPENAI_API_KEY``. Scripted by default; ``--interactive`` reads your
messages and asks for a thumbs up/down after each answer::

    python examples/openai_chatbot.py
    python examples/openai_chatbot.py --interactive
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "instrumentation/openai/src")]

import openai  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from rlhf_otel_instrumentation.openai import OpenAIInstrumentor  # noqa: E402

import rlhf_otel  # noqa: E402

SCRIPT = [
    ("What is the capital of France?", True),
    ("And how many people live there?", False),
    ("Thanks! Say goodbye in French.", True),
]


def chat(client: openai.OpenAI, model: str, history: list[dict[str, str]], text: str) -> str:
    """One streamed turn: the answer is printed as it arrives and appended to ``history``."""
    history.append({"role": "user", "content": text})
    stream = client.chat.completions.create(model=model, messages=history, stream=True)
    parts: list[str] = []
    print("assistant: ", end="", flush=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
            print(chunk.choices[0].delta.content, end="", flush=True)
    print()
    answer = "".join(parts)
    history.append({"role": "assistant", "content": answer})
    return answer


def main(argv: list[str] | None = None) -> int:
    """Run the chat loop; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="an OpenAI-compatible API (default: a local fake)")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--interactive", action="store_true", help="type your own messages")
    args = parser.parse_args(argv)

    server = None
    base_url = args.base_url
    if base_url is None:
        from tests.servers.openai_server import OpenAIServer

        server = OpenAIServer().start()
        base_url = server.base_url
    logger = rlhf_otel.create_rlhf_logger(backend="memory", tracer_provider=TracerProvider())
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(logger=logger, request_stream_usage=True)
    client = openai.OpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY", "local"))
    history = [{"role": "system", "content": "You are a concise assistant."}]
    logger.start_session(user_id="demo-user")
    try:
        turns = iter(SCRIPT) if not args.interactive else None
        while True:
            if turns is not None:
                turn = next(turns, None)
                if turn is None:
                    break
                text, thumbs_up = turn
                print(f"you: {text}")
            else:
                text = input("you (empty to quit): ").strip()
                if not text:
                    break
            chat(client, args.model, history, text)
            interaction_id = rlhf_otel.last_interaction_id()
            assert interaction_id is not None
            if turns is None:
                thumbs_up = input("  helpful? [y/n] ").strip().lower().startswith("y")
            logger.log_binary_feedback(interaction_id, thumbs_up, source="cli")
            print(f"  feedback {'👍' if thumbs_up else '👎'} on {interaction_id}")
        stats = logger.get_feedback_stats()
        print(f"\n{stats.total_interactions} interactions, {stats.total_feedback} feedback")
        if stats.binary is not None:
            print(f"thumbs up {stats.binary.thumbs_up}, down {stats.binary.thumbs_down}")
        for it in logger.get_interactions():
            usage = it.token_usage.total if it.token_usage else None
            print(
                f"  {it.id}  {it.prompt!r} -> {it.response!r}  tokens={usage}  "
                f"feedback={len(logger.get_feedback_for_interaction(it.id))}"
            )
    finally:
        instrumentor.uninstrument()
        client.close()
        logger.close()
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
