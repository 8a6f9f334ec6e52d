"""The WSGI adapter on a real WSGI server, and the FastAPI and Flask examples end to end."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest

from rlhf_otel import RLHFLogger
from rlhf_otel.web import feedback_wsgi_app, running_server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def wsgi_url(logger: RLHFLogger) -> Iterator[str]:
    """feedback_wsgi_app served by wsgiref on a free port, in a thread."""
    server: WSGIServer = make_server(
        "127.0.0.1", 0, feedback_wsgi_app(logger), handler_class=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_wsgi_adapter_stores_and_refuses(wsgi_url: str, logger: RLHFLogger) -> None:
    """Through WSGI the service stores a valid vote and answers the same JSON refusals."""
    token = logger.feedback_token("chat-1")
    body = {"token": token, "type": "binary", "data": {"value": "thumbs_down"}, "client_key": "a"}
    r = httpx.post(f"{wsgi_url}/feedback", json=body)
    assert (r.status_code, r.json()["status"]) == (201, "stored")
    assert httpx.post(f"{wsgi_url}/feedback", json=body).json()["status"] == "duplicate"
    r = httpx.post(f"{wsgi_url}/feedback", content=b"{}", headers={"content-type": "text/plain"})
    assert (r.status_code, r.json()["error"]) == (415, "unsupported_media_type")
    r = httpx.post(f"{wsgi_url}/feedback", json={**body, "token": "k0.e30.AAAA"})
    assert (r.status_code, r.json()["error"]) == (401, "bad_signature")
    [fb] = logger.query_feedback()
    assert (fb.interaction_id, fb.data["value"], fb.source) == ("chat-1", "thumbs_down", "web")


def test_fastapi_example_in_the_browser(logger: RLHFLogger, browser_context: Any) -> None:
    """The FastAPI example: ask on its page, click thumbs up under the answer; the vote is
    stored on the interaction that /api/chat logged."""
    app = _example("fastapi_chat").create_app(logger)
    with running_server(app) as url:
        page = browser_context.new_page()
        page.goto(url + "/")
        page.fill("#message", "What is OpenTelemetry?")
        page.click("form button")
        page.locator("rlhf-feedback button[data-value=thumbs_up]").click()
        page.wait_for_function("document.querySelector('rlhf-feedback')?.dataset.state === 'saved'")
    [it] = logger.get_interactions()
    assert (it.prompt, it.user_id, it.model) == (
        "What is OpenTelemetry?",
        "demo-user",
        "fake-model",
    )
    [fb] = logger.get_feedback_for_interaction(it.id)
    assert (fb.data["value"], fb.user_id, fb.source) == ("thumbs_up", "demo-user", "web")


def test_flask_example_through_the_adapter(logger: RLHFLogger) -> None:
    """The Flask example: /api/chat gives a token that /rlhf/feedback accepts."""
    client = _example("flask_chat").create_app(logger).test_client()
    reply = client.post("/api/chat", json={"message": "hi"}).get_json()
    with client.post(
        "/rlhf/feedback",
        json={"token": reply["token"], "type": "rating", "data": {"rating": 4}, "client_key": "x"},
        buffered=True,
    ) as r:
        assert (r.status_code, r.get_json()["status"]) == (201, "stored")
    [fb] = logger.get_feedback_for_interaction(reply["interaction_id"])
    assert (fb.type.value, fb.data["rating"]) == ("rating", 4)
    with client.get("/rlhf/widget.js", buffered=True) as asset:
        assert asset.status_code == 200
