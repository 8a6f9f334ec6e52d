"""examples/typescript end to end: the Node chat on the AI SDK, `rlhf-otel collect` and
`rlhf-otel serve` as real processes, the page driven in headless Chromium, votes through the
widget; the store holds one interaction per answer with what the model server saw."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from rlhf_otel.stores import JsonlStore
from tests.examples.node_chat import FLAVOURS, SECRET, LoggedProcess, node_chat
from tests.recording.ai_sdk_fixtures import replay
from tests.servers.openai_server import OpenAIServer
from tests.web.conftest import CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = "You are a helpful assistant. Use the weather tool for questions about the weather."
# (message, model, stream): plain, streamed, a tool call each way, a failure each way.
TURNS = [
    ("hello there", "gpt-4o-mini", False),
    ("stream me please", "gpt-4o-mini", True),
    ("weather in Paris?", "agent", False),
    ("weather in Rome?", "agent", True),
    ("fail now", "error-500", False),
    ("fail streaming", "error-500", True),
]
WAIT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "RLHF_OTEL_FEEDBACK_SECRET": SECRET}


@dataclass
class Backend:
    """`rlhf-otel collect` and `rlhf-otel serve` on one data directory."""

    collect: LoggedProcess
    collect_url: str
    serve: LoggedProcess
    serve_url: str


def _wait_http(url: str, process: LoggedProcess) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.proc.poll() is None, f"exited: {''.join(process.lines)}"
        assert time.monotonic() < deadline, f"{url} did not answer in time"
        time.sleep(0.1)


@pytest.fixture
def backend(tmp_path: Path, node_port: int) -> Iterator[Backend]:
    """collect (OTLP in) and serve (votes in), writing tmp_path/data; stopped by SIGTERM."""
    data = str(tmp_path / "data")
    cli = [sys.executable, "-m", "rlhf_otel.cli"]
    collect = LoggedProcess([*cli, "collect", "--data-dir", data, "--port", "0"], env=_env())
    serve_port = _free_port()
    serve = LoggedProcess(
        [*cli, "serve", "--data-dir", data, "--port", str(serve_port),
         "--allow-origin", f"http://127.0.0.1:{node_port}", "--log-level", "warning"],
        env=_env(),
    )  # fmt: skip
    serve_url = f"http://127.0.0.1:{serve_port}"
    try:
        collect_url = collect.wait_for("listening on ", WAIT).split("listening on ", 1)[1].strip()
        _wait_http(f"{serve_url}/healthz", serve)
        yield Backend(collect, collect_url, serve, serve_url)
    finally:
        serve.stop()
        collect.stop()


@pytest.fixture
def node_port() -> int:
    """The port the Node chat will listen on (the feedback service allows its origin)."""
    return _free_port()


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    """A page in a fresh headless Chromium profile (the system browser, driven by playwright)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path="/usr/bin/chromium",
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def _chat(page: Any, n: int, message: str, model: str, stream: bool) -> dict[str, str]:
    """Send one message from the page; the turn's state, interaction id and answer text."""
    page.fill("#message", message)
    page.select_option("#model", model)
    page.set_checked("#stream", stream)
    page.click("#send")
    turn = page.locator(f"#log .turn:nth-child({n})")
    page.wait_for_selector(f"#log .turn:nth-child({n})[data-state]", timeout=WAIT * 1000)
    return {
        "state": turn.get_attribute("data-state"),
        "interaction_id": turn.get_attribute("data-interaction-id"),
        "answer": turn.locator(".answer").inner_text(),
    }


def _vote(page: Any, n: int, saved: int) -> None:
    page.locator(f"#log .turn:nth-child({n}) rlhf-feedback button[data-value=thumbs_up]").click()
    page.wait_for_function(
        f"document.querySelectorAll('rlhf-feedback[data-state=saved]').length >= {saved}",
        timeout=WAIT * 1000,
    )


def _stored_interactions(backend: Backend) -> int:
    health = httpx.get(backend.collect_url.removesuffix("/v1/traces") + "/healthz", timeout=5)
    stored: int = health.json()["interactions_stored"]
    return stored


@pytest.mark.slow
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_chat_votes_land_on_one_interaction_per_answer(
    flavour: str, tmp_path: Path, backend: Backend, node_port: int, browser_page: Any
) -> None:
    """Plain, streamed, tool-calling and failing answers each become exactly one stored
    interaction (prompt, response, usage, model, provider as the model server saw them, the
    tool call, the error), and a thumbs up in the widget lands on its answer's interaction."""
    page = browser_page
    with OpenAIServer() as model:
        with node_chat(
            flavour=flavour,
            openai_base_url=model.base_url,
            traces_url=backend.collect_url,
            feedback_url=backend.serve_url,
            extra_env={"PORT": str(node_port)},
        ) as url:
            page.goto(url)
            page.wait_for_function("customElements.get('rlhf-feedback') !== undefined")
            turns, bodies, voted = [], [], 0
            for n, (message, model_name, stream) in enumerate(TURNS, start=1):
                seen = len(model.requests)
                turn = _chat(page, n, message, model_name, stream)
                bodies.append([b for _, b in model.requests[seen:]])
                if turn["state"] == "done":
                    voted += 1
                    _vote(page, n, voted)
                turns.append(turn)
        # The Node process flushed its spans on SIGTERM; collect stores them.
        deadline = time.monotonic() + WAIT
        while _stored_interactions(backend) < len(TURNS) and time.monotonic() < deadline:
            time.sleep(0.1)
        answers = [[replay(model.base_url, b) for b in sent] for sent in bodies]
    assert backend.serve.stop() == 143  # the CLI's code after SIGTERM, store flushed
    assert backend.collect.stop() == 0
    with JsonlStore(tmp_path / "data") as store:
        interactions = {i.id: i for i in store.scan_interactions()}
        feedback = list(store.scan_feedback())

    assert [t["state"] for t in turns] == ["done"] * 4 + ["error"] * 2
    assert sorted(interactions) == sorted(t["interaction_id"] for t in turns)
    for (message, model_name, _), turn, sent, answer in zip(
        TURNS, turns, bodies, answers, strict=True
    ):
        it = interactions[turn["interaction_id"]]
        assert sent[0]["messages"][-1] == {"role": "user", "content": message}
        assert (it.prompt, list(it.context)) == (message, [{"role": "system", "content": SYSTEM}])
        assert (it.model, it.provider) == (model_name, "openai")
        if model_name.startswith("error-"):
            assert (it.response, it.error_type, it.token_usage) == ("", "AI_APICallError", None)
            continue
        assert it.error_type is None
        assert it.response == answer[-1].text == turn["answer"]
        usage = it.token_usage
        assert usage is not None
        assert (usage.prompt, usage.completion) == (
            sum(a.prompt_tokens or 0 for a in answer),
            sum(a.completion_tokens or 0 for a in answer),
        )
        if model_name == "agent":
            [call] = answer[0].tool_calls
            assert [(c["name"], json.loads(c["arguments"])) for c in it.metadata["tool_calls"]] == [
                (call["name"], json.loads(call["arguments"]))
            ]
    votes = {fb.interaction_id: fb for fb in feedback}
    assert len(feedback) == len(votes) == 4
    for turn in turns[:4]:
        fb = votes[turn["interaction_id"]]
        assert (fb.type.value, dict(fb.data), fb.source) == (
            "binary",
            {"value": "thumbs_up"},
            "web",
        )
        assert fb.user_id == interactions[turn["interaction_id"]].user_id is not None
