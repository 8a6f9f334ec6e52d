"""Fixtures: a logger on a local store, the feedback service on uvicorn, headless Chromium."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from rlhf_otel import RLHFLogger, create_rlhf_logger
from rlhf_otel.web import feedback_app, running_server

SECRET = "test-secret-0123456789-abcdefghij"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def logger(tmp_path: Path) -> Iterator[RLHFLogger]:
    """A logger writing JSONL files under tmp_path, with a feedback secret."""
    lg = create_rlhf_logger(
        tracer_provider=TracerProvider(),
        backend="local",
        data_dir=str(tmp_path / "data"),
        feedback_secret=SECRET,
        enable_session_tracking=False,
    )
    with lg:
        yield lg


def page_html(endpoint: str, widgets: list[dict[str, str]]) -> str:
    """A chat page with one <rlhf-feedback> per dict of attributes."""
    parts = []
    for attrs in widgets:
        text = " ".join(f'{k}="{html.escape(v)}"' for k, v in attrs.items())
        parts.append(
            f'<div class="answer"><rlhf-feedback endpoint="{endpoint}" {text}></rlhf-feedback></div>'
        )
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>chat</title>"
        f'<script type="module" src="{endpoint}/widget.js"></script></head><body>'
        + "".join(parts)
        + "</body></html>"
    )


class Site:
    """The app under test: pages registered by tests at /page/<name>, feedback at /rlhf."""

    def __init__(self, logger: RLHFLogger, **options: Any) -> None:
        self.pages: dict[str, str] = {}

        async def page(request: Request) -> HTMLResponse:
            return HTMLResponse(self.pages[request.path_params["name"]])

        self.app = Starlette(
            routes=[
                Route("/page/{name}", page),
                Mount("/rlhf", feedback_app(logger, **options)),
            ]
        )
        self.url = ""


@pytest.fixture
def site(logger: RLHFLogger) -> Iterator[Site]:
    """The site on a real uvicorn server on a free 127.0.0.1 port."""
    s = Site(logger)
    with running_server(s.app) as url:
        s.url = url
        yield s


@pytest.fixture
def browser_context(tmp_path: Path) -> Iterator[Any]:
    """A fresh headless Chromium profile (the system browser, driven by playwright)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path="/usr/bin/chromium",
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield context
        finally:
            context.close()
