"""Feedback service for browsers, and the web layer it shares with the review app.

Example::

    from fastapi import FastAPI
    from rlhf_otel import create_rlhf_logger
    from rlhf_otel.web import feedback_app

    logger = create_rlhf_logger(feedback_secret="...")     # or RLHF_OTEL_FEEDBACK_SECRET
    app = FastAPI()
    app.mount("/rlhf", feedback_app(logger))
    # a chat handler returns logger.feedback_token(interaction_id) with each answer;
    # the page loads /rlhf/widget.js and uses <rlhf-feedback endpoint="/rlhf" token=...>

Needs the ``web`` extra: ``pip install 'rlhf-otel[web]'``.
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without the extra only
    raise ImportError("rlhf_otel.web needs the web extra: pip install 'rlhf-otel[web]'") from exc

from rlhf_otel._tokens import TokenClaims, TokenError, TokenKeys
from rlhf_otel.web._app import client_address, web_app
from rlhf_otel.web._cors import CORSAllowList
from rlhf_otel.web._feedback import feedback_app, feedback_wsgi_app
from rlhf_otel.web._http import (
    ERROR_CODES,
    ErrorMiddleware,
    HTTPError,
    error_response,
    json_depth,
    read_json,
)
from rlhf_otel.web._options import FeedbackAppConfig
from rlhf_otel.web._ratelimit import RateLimiter
from rlhf_otel.web._serve import running_server, serve
from rlhf_otel.web._static import PackageFiles

__all__ = [
    "CORSAllowList",
    "ERROR_CODES",
    "ErrorMiddleware",
    "FeedbackAppConfig",
    "HTTPError",
    "PackageFiles",
    "RateLimiter",
    "TokenClaims",
    "TokenError",
    "TokenKeys",
    "client_address",
    "error_response",
    "feedback_app",
    "feedback_wsgi_app",
    "json_depth",
    "read_json",
    "running_server",
    "serve",
    "web_app",
]
