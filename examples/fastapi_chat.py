"""The guide's chat + feedback pattern on FastAPI, with the feedback service mounted.

``POST /api/chat`` answers with the reply, its interaction id and a signed feedback token;
the page shows the answer with an ``<rlhf-feedback>`` widget, which posts to the mounted
service at ``/rlhf``. Answers come from a deterministic fake model, or from any
OpenAI-compatible server when ``OPENAI_BASE_URL`` is set::

    export RLHF_OTEL_FEEDBACK_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')
    python examples/fastapi_chat.py            # then open http://127.0.0.1:8000
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from rlhf_otel import RLHFLogger, create_rlhf_logger
from rlhf_otel.web import feedback_app, serve

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chat with feedback</title>
<script type="module" src="/rlhf/widget.js"></script>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto} .turn{margin:1em 0}</style>
</head><body><main>
<h1>Chat</h1>
<form id="ask"><label>Message <input id="message" required></label>
<button>Send</button></form>
<div id="log" aria-live="polite"></div>
</main>
<script type="module">
const log = document.getElementById("log");
document.getElementById("ask").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = document.getElementById("message");
  const r = await fetch("/api/chat", {method: "POST",
    headers: {"content-type": "application/json"},
    body: JSON.stringify({message: input.value, user_id: "demo-user"})});
  const reply = await r.json();
  const turn = document.createElement("div");
  turn.className = "turn";
  const p = document.createElement("p");
  p.textContent = reply.answer;
  const fb = document.createElement("rlhf-feedback");
  fb.setAttribute("endpoint", "/rlhf");
  fb.setAttribute("token", reply.token);
  fb.setAttribute("interaction-id", reply.interaction_id);
  fb.setAttribute("controls", "thumbs stars comment");
  turn.append(p, fb);
  log.append(turn);
  input.value = "";
});
</script></body></html>"""


class ChatRequest(BaseModel):
    """What the page sends."""

    message: str
    user_id: str | None = None


def fake_model(message: str) -> str:
    """A deterministic stand-in for a model."""
    digest = hashlib.sha256(message.encode()).hexdigest()[:6]
    return f"You asked: {message!r}. Here is answer {digest}."


def _openai_answer(message: str) -> tuple[str, str]:
    import openai

    client = openai.OpenAI(base_url=os.environ["OPENAI_BASE_URL"])
    model = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
    done = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": message}]
    )
    return done.choices[0].message.content or "", model


def create_app(logger: RLHFLogger) -> FastAPI:
    """The chat app: ``/`` (page), ``/api/chat``, and the feedback service at ``/rlhf``."""
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    @app.post("/api/chat")
    def chat(req: ChatRequest) -> dict[str, Any]:
        started = time.perf_counter()
        if os.environ.get("OPENAI_BASE_URL"):
            answer, model = _openai_answer(req.message)
        else:
            answer, model = fake_model(req.message), "fake-model"
        interaction_id = logger.log_interaction(
            req.message,
            answer,
            model=model,
            latency=(time.perf_counter() - started) * 1000,
            user_id=req.user_id,
        )
        token = logger.feedback_token(interaction_id, user_id=req.user_id, ttl=3600)
        return {"answer": answer, "interaction_id": interaction_id, "token": token}

    app.mount("/rlhf", feedback_app(logger))
    return app


def main() -> None:
    """Serve the example on http://127.0.0.1:8000 (JSONL store in ./rlhf-data)."""
    options: dict[str, Any] = {"enable_session_tracking": False}
    if not os.environ.get("RLHF_OTEL_FEEDBACK_SECRET"):
        print("RLHF_OTEL_FEEDBACK_SECRET is not set: using a throwaway secret for this run")
        options["feedback_secret"] = secrets.token_urlsafe(32)
    with create_rlhf_logger(**options) as logger:
        serve(create_app(logger), port=8000, log_level="info")


if __name__ == "__main__":
    main()
