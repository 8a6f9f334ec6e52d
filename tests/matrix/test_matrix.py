"""The dialect matrix: real instrumentation packages from PyPI (pinned, each family in its own
venv made by setup) trace a real client against the local OpenAI/Anthropic-compatible server;
the stored records equal what the server saw, feedback given by the ids the app can see lands
on them, and the DPO export has pairs built from them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rlhf_otel.export import iter_training_rows
from rlhf_otel.records import FeedbackType, Interaction, TokenUsage
from rlhf_otel.stores import JsonlStore
from tests.servers.openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / ".cache" / "matrix-venvs"
APP = Path(__file__).with_name("app.py")
PROMPT = "Capital of France?"
SYSTEM = {"role": "system", "content": "Answer briefly."}
ANSWER = "Echo: Capital of France?"

# (family, provider, OpenAI content mode for openai-v2): every cell that exists.
CELLS = [
    ("openai-v2", "openai", "SPAN_ONLY"),
    ("openai-v2", "openai", "EVENT_ONLY"),
    ("openai-v2", "openai", "SPAN_AND_EVENT"),
    ("openinference", "openai", ""),
    ("openinference", "anthropic", ""),
    ("openllmetry", "openai", ""),
    ("openllmetry", "anthropic", ""),
    ("openllmetry-legacy", "openai", ""),
    ("langchain", "openai", ""),
    ("logfire", "openai", ""),
    ("logfire", "anthropic", ""),
    ("dual", "openai", "SPAN_ONLY"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(slow_seconds=0.1) as srv:
        yield srv


def _python(family: str) -> str:
    if family == "openai-v2":
        return sys.executable
    venv = VENVS / ("openinference" if family == "dual" else family) / "bin" / "python"
    assert venv.exists(), f"{venv} is missing: run ./scripts/setup.sh (matrix venvs)"
    return str(venv)


def run_app(
    family: str,
    provider: str,
    mode: str,
    base_url: str,
    tmp: Path,
    *extra: str,
    env_extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the matrix app in its family's venv; returns what the app saw."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(env_extra or {})
    if mode:
        env["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
        env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = mode
    out = tmp / "seen.json"
    done = subprocess.run(
        [
            _python(family),
            str(APP),
            family,
            provider,
            base_url,
            str(tmp / "data"),
            str(out),
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    seen: dict[str, Any] = json.loads(out.read_text())["cases"]
    return seen


def _expected_usage(case: str) -> TokenUsage:
    """The usage the server sent for a case (its deterministic word counts)."""
    words = len(PROMPT.split()) + len(str(SYSTEM["content"]).split())
    completion = 5 if case == "tool" else len(ANSWER.split())
    return TokenUsage(words, completion, words + completion)


def check_records(
    family: str, provider: str, seen: dict[str, Any], records: list[Interaction]
) -> None:
    """One record per case, in the case's trace, equal to what the server saw and sent."""
    by_trace = {it.trace_id: it for it in records}
    assert len(by_trace) == len(records) == len(seen), [(r.trace_id, r.span_id) for r in records]
    model = {"anthropic": "claude-3-5-haiku"}.get(provider, "gpt-4o-mini")
    for case, app in seen.items():
        it = by_trace[app["trace_id"]]
        assert (it.prompt, it.provider) == (PROMPT, provider), case
        assert list(it.context) == [SYSTEM], case
        if case == "error":
            assert (it.response, it.token_usage) == ("", None)
            assert str(it.error_type).endswith("Error")
            continue
        assert it.error_type is None, case
        expected_model = {"tool": "tools"}.get(case, model)
        assert it.model == expected_model, case
        usage = _expected_usage(case)
        if family == "openllmetry" and provider == "anthropic" and case == "stream":
            # OpenLLMetry adds message_start's output_tokens (1) to the final count.
            usage = TokenUsage(5, 5, 10)
        assert it.token_usage == usage, case
        if case == "tool":
            assert it.response == ""
            (call,) = it.metadata["tool_calls"]
            assert (call["name"], json.loads(call["arguments"])) == (
                "get_weather",
                {"city": "Paris"},
            )
        else:
            assert it.response == ANSWER, case


def check_feedback(seen: dict[str, Any], data: Path) -> None:
    """Feedback logged by the app's ids lands on the interactions; DPO has their pair."""
    with JsonlStore(data) as store:
        by_trace = {it.trace_id: it for it in store.scan_interactions()}
        plain = by_trace[seen["plain"]["trace_id"]]
        stream = by_trace[seen["stream"]["trace_id"]]
        tool = by_trace[seen["tool"]["trace_id"]]
        landed = {(fb.type, fb.interaction_id) for fb in store.scan_feedback()}
        assert landed == {
            (FeedbackType.RATING, plain.id),
            (FeedbackType.BINARY, stream.id),
            (FeedbackType.COMPARATIVE, plain.id),
        }
        (cmp,) = [fb for fb in store.scan_feedback() if fb.type is FeedbackType.COMPARATIVE]
        assert cmp.data["compared_response_ids"] == [tool.id]
        rows = [r for r in iter_training_rows(store, "dpo") if r.get("chosen") is not None]
    assert any(
        str(r["chosen"]).find(ANSWER) >= 0 and str(r["prompt"]).find(PROMPT) >= 0 for r in rows
    ), rows


@pytest.mark.slow
@pytest.mark.parametrize(("family", "provider", "mode"), CELLS, ids=lambda v: v or "-")
def test_matrix_cell(
    family: str, provider: str, mode: str, server: OpenAIServer, tmp_path: Path
) -> None:
    """A real instrumentation's plain, streamed, tool and failed calls are stored as the
    server saw them, once each (two instrumentations at once included), feedback lands."""
    start = len(server.requests)
    seen = run_app(family, provider, mode, server.base_url, tmp_path)
    sent = server.requests[start:]
    assert len(sent) == len(seen)
    for _path, body in sent:
        assert body["messages"][-1]["content"] == PROMPT
    with JsonlStore(tmp_path / "data") as store:
        records = list(store.scan_interactions())
    check_records(
        family,
        provider,
        {k: v for k, v in seen.items() if k != "chain"},
        [r for r in records if r.trace_id != seen.get("chain", {}).get("trace_id")],
    )
    check_feedback(seen, tmp_path / "data")


@pytest.mark.slow
def test_langchain_chain_is_one_interaction_with_its_step(
    server: OpenAIServer, tmp_path: Path
) -> None:
    """prompt | model | parser (CHAIN spans around an LLM span): one interaction, the chain's
    input and final answer, the model call as its step."""
    seen = run_app("langchain", "openai", "", server.base_url, tmp_path)
    with JsonlStore(tmp_path / "data") as store:
        (it,) = [r for r in store.scan_interactions() if r.trace_id == seen["chain"]["trace_id"]]
    assert (it.prompt, it.response, it.model, it.provider) == (
        PROMPT,
        ANSWER,
        "gpt-4o-mini",
        "openai",
    )
    assert list(it.context) == [SYSTEM]
    (step,) = it.metadata["steps"]
    assert (step["kind"], step["prompt"], step["response"]) == ("llm", PROMPT, ANSWER)
