"""The chat + feedback pattern on Flask: the feedback service through its WSGI adapter.

``POST /api/chat`` answers with the reply, its interaction id and a signed feedback token;
``/rlhf`` is the same feedback service as the FastAPI example, mounted with werkzeug's
``DispatcherMiddleware``::

    export RLHF_OTEL_FEEDBACK_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')
    python examples/flask_chat.py              # then open http://127.0.0.1:8001
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from rlhf_otel import RLHFLogger, create_rlhf_logger
from rlhf_otel.web import feedback_wsgi_app

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chat with feedback</title>
<script type="module" src="/rlhf/widget.js"></script></head><body>
<form id="ask"><label>Message <input id="message" required></label><button>Send</button></form>
<div id="log"></div>
<script type="module">
document.getElementById("ask").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = document.getElementById("message");
  const r = await fetch("/api/chat", {method: "POST",
    headers: {"content-type": "application/json"}, body: JSON.stringify({message: input.value})});
  const reply = await r.json();
  const p = document.createElement("p");
  p.textContent = reply.answer;
  const fb = document.createElement("rlhf-feedback");
  fb.setAttribute("endpoint", "/rlhf");
  fb.setAttribute("token", reply.token);
  fb.setAttribute("interaction-id", reply.interaction_id);
  document.getElementById("log").append(p, fb);
  input.value = "";
});
</script></body></html>"""


def create_app(logger: RLHFLogger) -> Flask:
    """The Flask chat app with the feedback service at ``/rlhf``."""
    app = Flask(__name__)

    @app.get("/")
    def page() -> str:
        return PAGE

    @app.post("/api/chat")
    def chat() -> Any:
        message = str((request.get_json(silent=True) or {}).get("message", ""))
        started = time.perf_counter()
        digest = hashlib.sha256(message.encode()).hexdigest()[:6]
        answer = f"You asked: {message!r}. Answer {digest}."
        interaction_id = logger.log_interaction(
            message, answer, model="fake-model", latency=(time.perf_counter() - started) * 1000
        )
        token = logger.feedback_token(interaction_id)
        return jsonify(answer=answer, interaction_id=interaction_id, token=token)

    app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, {"/rlhf": feedback_wsgi_app(logger)}
    )
    return app


def main() -> None:
    """Serve the example on http://127.0.0.1:8001 (JSONL store in ./rlhf-data)."""
    options: dict[str, Any] = {"enable_session_tracking": False}
    if not os.environ.get("RLHF_OTEL_FEEDBACK_SECRET"):
        print("RLHF_OTEL_FEEDBACK_SECRET is not set: using a throwaway secret for this run")
        options["feedback_secret"] = secrets.token_urlsafe(32)
    with create_rlhf_logger(**options) as logger:
        create_app(logger).run(host="127.0.0.1", port=8001)


if __name__ == "__main__":
    main()
