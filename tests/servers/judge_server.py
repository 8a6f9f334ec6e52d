"""A local OpenAI-compatible judge for tests: deterministic verdicts derived from the prompt.

It answers ``/v1/chat/completions`` with a JSON verdict shaped by the request's
``response_format`` JSON schema (``verdict`` pass/fail, ``rating``, ``dimensions``, or
``preferred`` A/B/tie), so any rubric of ``rlhf_otel.judges`` gets a valid answer.

Verdicts come from the judged text (inside ``<answer>``, or ``<answer_a>``/``<answer_b>``):
a marker ``JUDGE=<value>`` in it decides (``pass``, ``fail``, a number, or ``win`` for the
better of a pair), else a hash of the text; ``CONF=<x>`` sets the confidence (default from
the hash, 0.50..0.99). :func:`expected` computes the same verdict for a test.

Modes: ``fair``; ``biased`` (pairwise: always ``A``, whatever the order); ``faulty`` (each
distinct request first gets the answers in ``faults``: ``429`` with a Retry-After, ``500``,
``timeout`` (holds the request ``hang_seconds``), then a verdict). Counted at the server:
``requests`` (every attempt), ``answered`` (verdicts sent), ``tokens`` (usage it reported),
``max_in_flight``. Usage::

    with JudgeServer(mode="biased") as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["JudgeServer", "expected", "text_hash"]

_MARK = re.compile(r"JUDGE=([A-Za-z0-9.]+)")
_CONF = re.compile(r"CONF=([0-9.]+)")


def text_hash(text: str) -> int:
    """The hash verdicts are derived from."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _between(text: str, tag: str) -> str | None:
    m = re.search(rf"<{tag}>\n?(.*?)\n?</{tag}>", text, re.DOTALL)
    return m.group(1) if m else None


def _confidence(text: str) -> float:
    m = _CONF.search(text)
    return float(m.group(1)) if m else 0.5 + (text_hash(text) % 50) / 100


def expected(schema: dict[str, Any], answer: str) -> dict[str, Any]:
    """The verdict fields for one judged answer (single-answer rubrics)."""
    props = schema["properties"]
    mark = _MARK.search(answer)
    h = text_hash(answer)
    out: dict[str, Any] = {}
    if "verdict" in props:
        out["verdict"] = mark.group(1) if mark else ("pass" if h % 2 == 0 else "fail")
    elif "rating" in props:
        lo, hi = props["rating"]["minimum"], props["rating"]["maximum"]
        out["rating"] = int(float(mark.group(1))) if mark else lo + h % (hi - lo + 1)
    elif "dimensions" in props:
        dims = props["dimensions"]["properties"]
        out["dimensions"] = {
            d: (int(float(mark.group(1))) if mark else
                s["minimum"] + text_hash(d + answer) % (s["maximum"] - s["minimum"] + 1))
            for d, s in dims.items()
        }  # fmt: skip
    return out


def _pairwise(a: str, b: str, biased: bool) -> str:
    if biased:
        return "A"
    wa, wb = "JUDGE=win" in a, "JUDGE=win" in b
    if wa != wb:
        return "A" if wa else "B"
    if a == b:
        return "tie"
    return "A" if text_hash(a) > text_hash(b) else "B"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # stdlib signature
        pass

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802  # stdlib name
        srv = self.server
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw or b"{}")
        digest = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode())
        key = digest.hexdigest()
        with srv.lock:
            srv.requests += 1
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
            attempt = srv.attempts[key]
            srv.attempts[key] += 1
        try:
            self._answer(body, attempt)
        finally:
            with srv.lock:
                srv.in_flight -= 1

    def _answer(self, body: dict[str, Any], attempt: int) -> None:
        srv = self.server
        if srv.delay:
            srv.stopping.wait(srv.delay)
        if srv.mode == "faulty" and attempt < len(srv.faults):
            fault = srv.faults[attempt]
            if fault == "timeout":
                srv.stopping.wait(srv.hang_seconds)
                self.close_connection = True
                return
            status = int(fault)
            headers = {"Retry-After": srv.retry_after} if status == 429 else None
            err = {"error": {"message": f"simulated {status}", "type": "server_error",
                             "param": None, "code": str(status)}}  # fmt: skip
            self._send(status, err, headers)
            return
        messages = body.get("messages") or []
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        schema = body["response_format"]["json_schema"]["schema"]
        if "preferred" in schema["properties"]:
            a, b = _between(user, "answer_a") or "", _between(user, "answer_b") or ""
            verdict: dict[str, Any] = {"preferred": _pairwise(a, b, srv.mode == "biased")}
            judged = a + b
        else:
            judged = _between(user, "answer") or user
            verdict = expected(schema, judged)
        verdict["explanation"] = f"judged {len(judged.split())} words"
        verdict["confidence"] = _confidence(judged)
        content = json.dumps(verdict)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        completion_tokens = len(content.split())
        with srv.lock:
            srv.answered += 1
            srv.tokens += prompt_tokens + completion_tokens
        self._send(
            200,
            {
                "id": "chatcmpl-judge",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "judge"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.mode = "fair"
        self.faults: tuple[str, ...] = ()
        self.hang_seconds = 5.0
        self.retry_after = "0"
        self.delay = 0.0
        self.requests = 0
        self.answered = 0
        self.tokens = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.attempts: Counter[str] = Counter()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that gave up (timeout test, killed run) closes the socket under us
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class JudgeServer:
    """The judge on 127.0.0.1 at a free port, served from a background thread.

    Args:
        mode: ``fair``, ``biased`` or ``faulty``.
        faults: ``faulty``: what the first attempts of each distinct request get.
        hang_seconds: how long a ``timeout`` fault holds the request.
        delay: seconds every request waits before its answer (a slow judge).
        retry_after: the Retry-After header of ``429`` faults.
    """

    def __init__(
        self,
        *,
        mode: str = "fair",
        faults: tuple[str, ...] = ("429", "500", "timeout"),
        hang_seconds: float = 5.0,
        delay: float = 0.0,
        retry_after: str = "0",
    ) -> None:
        self._server = _Server()
        self._server.retry_after = retry_after
        self._server.mode = mode
        self._server.faults = faults
        self._server.hang_seconds = hang_seconds
        self._server.delay = delay
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """The ``base_url`` for the ``openai`` client."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def requests(self) -> int:
        """Requests received (every attempt)."""
        with self._server.lock:
            return self._server.requests

    @property
    def answered(self) -> int:
        """Verdicts sent."""
        with self._server.lock:
            return self._server.answered

    @property
    def tokens(self) -> int:
        """Total tokens of the usage reported with verdicts."""
        with self._server.lock:
            return self._server.tokens

    @property
    def max_in_flight(self) -> int:
        """Most requests handled at the same time."""
        with self._server.lock:
            return self._server.max_in_flight

    def start(self) -> JudgeServer:
        """Start serving; returns ``self``."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, release held requests and close the socket."""
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> JudgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve_forever() -> None:
    """``python -m tests.servers.judge_server [--port N] [--mode fair|biased|faulty]``."""
    import argparse

    parser = argparse.ArgumentParser(description="a local OpenAI-compatible test judge")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--mode", choices=("fair", "biased", "faulty"), default="fair")
    args = parser.parse_args()
    server = _Server(port=args.port)
    server.mode = args.mode
    print(f"test judge on http://127.0.0.1:{args.port}/v1 ({args.mode}); Ctrl-C to stop",
          flush=True)  # fmt: skip
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    _serve_forever()
