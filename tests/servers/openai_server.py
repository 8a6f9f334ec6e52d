"""A local OpenAI-compatible HTTP server for tests: chat, legacy completions, Responses API.

Behaviour is chosen by the request's ``model``:

- any model: a deterministic echo answer (``Echo: <last user text>``), ids derived from the
  request body, so two identical requests get identical responses;
- ``tools``: the answer is a call of the first tool (``{"city": "Paris"}``);
- ``agent``: like ``tools`` until the last message is a tool result, then the echo answer
  (an agent loop: tool call, tool result, final answer);
- ``length``: finish reason ``length``;
- ``refuse``: the model refuses (``refusal`` set, ``content`` null);
- ``error-<status>``: that HTTP status with an OpenAI error body;
- ``slow``: waits ``slow_seconds`` before answering; ``slow-stream``: waits
  ``slow_seconds`` before the first chunk;
- ``stream-error``: a stream that sends two chunks, then an error event.

``/v1/messages`` speaks the Anthropic Messages API with the same behaviours
(``tests/servers/anthropic_messages.py``).

Streams send a final usage chunk only when the request asks for it
(``stream_options.include_usage``), as the real API does. Every request is kept in
``requests`` as ``(path, body)``. Usage::

    with OpenAIServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
"""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers.anthropic_messages import anthropic_error, messages

__all__ = ["OpenAIServer"]

CREATED = 1_700_000_000


REFUSAL = "I cannot help with that request."


def _words(text: str) -> int:
    return len(text.split())


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for msg in reversed(messages):
        if msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            return "".join(p.get("text", "") for p in content or () if isinstance(p, dict))
    return ""


def _responses_user_text(body: dict[str, Any]) -> str:
    items = body.get("input")
    if isinstance(items, str):
        return items
    messages = [i for i in items or () if i.get("type", "message") == "message"]
    return _last_user_text(messages)


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Small SSE writes would otherwise wait on Nagle + delayed ACK (~40 ms each).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # stdlib signature
        pass

    # -------------------------------------------------------------- plumbing
    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_events(self, events: Iterator[tuple[str | None, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for name, payload in events:
                data = payload if isinstance(payload, str) else json.dumps(payload)
                text = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
                raw = text.encode()
                self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _wait(self) -> None:
        self.server.stopping.wait(self.server.slow_seconds)

    def do_POST(self) -> None:  # noqa: N802  # stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.split("?", 1)[0]
        with self.server.lock:
            self.server.requests.append((path, body))
        model = str(body.get("model", ""))
        if model.startswith("error-") and path.endswith("/messages"):
            status = int(model.split("-", 1)[1])
            self._send_json(status, anthropic_error(status))
            return
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            self._send_json(
                status,
                {
                    "error": {
                        "message": f"simulated {status}",
                        "type": "server_error",
                        "param": None,
                        "code": f"http_{status}",
                    }
                },
            )
            return
        if model == "slow":
            self._wait()
        handlers = {
            "/chat/completions": self._chat,
            "/completions": self._completions,
            "/responses": self._responses,
            "/messages": self._messages,
        }
        # Any API root works (``/v1``, Groq's ``/openai/v1``, ...).
        handler = next((h for suffix, h in handlers.items() if path.endswith(suffix)), None)
        if handler is None:
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
            return
        handler(body, model)

    def _messages(self, body: dict[str, Any], model: str) -> None:
        messages(body, model, self._send_json, self._send_events)

    # -------------------------------------------------------------- chat completions
    def _answer(self, body: dict[str, Any], user_text: str) -> str:
        fmt = body.get("response_format") or (body.get("text") or {}).get("format") or {}
        if fmt.get("type") == "json_schema":
            return json.dumps({"answer": f"Echo: {user_text}"})
        return f"Echo: {user_text}"

    def _chat(self, body: dict[str, Any], model: str) -> None:
        messages = body.get("messages") or []
        user_text = _last_user_text(messages)
        text = self._answer(body, user_text)
        digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        cid = f"chatcmpl-{digest}"
        prompt_tokens = sum(_words(str(m.get("content") or "")) for m in messages)
        tools = body.get("tools") or []
        call = None
        answered = bool(messages) and messages[-1].get("role") == "tool"
        if (model == "tools" or (model == "agent" and not answered)) and tools:
            call = {
                "id": f"call_{digest[:8]}",
                "type": "function",
                "function": {
                    "name": tools[0]["function"]["name"],
                    "arguments": '{"city": "Paris"}',
                },
            }
        finish = "tool_calls" if call else ("length" if model == "length" else "stop")
        completion_tokens = 5 if call else _words(text)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if not body.get("stream"):
            refused = model == "refuse"
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None if call or refused else text,
                "refusal": REFUSAL if refused else None,
            }
            if call:
                message["tool_calls"] = [call]
            self._send_json(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": CREATED,
                    "model": f"{model}-2024",
                    "system_fingerprint": "fp_test",
                    "choices": [
                        {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
                    ],
                    "usage": usage,
                },
            )
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": f"{model}-2024",
                "system_fingerprint": "fp_test",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
                ],
            }
            if include_usage:
                out["usage"] = None
            return out

        def events() -> Iterator[tuple[str | None, Any]]:
            if model == "slow-stream":
                self._wait()
            yield None, chunk({"role": "assistant", "content": ""})
            if call:
                yield (
                    None,
                    chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": call["id"],
                                    "type": "function",
                                    "function": {"name": call["function"]["name"], "arguments": ""},
                                }
                            ]
                        }
                    ),
                )
                for part in ('{"city": ', '"Paris"}'):
                    yield (
                        None,
                        chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}),
                    )
            else:
                for i, piece in enumerate(_pieces(REFUSAL if model == "refuse" else text)):
                    if model == "stream-error" and i == 2:
                        yield (
                            None,
                            {
                                "error": {
                                    "message": "simulated stream failure",
                                    "type": "server_error",
                                }
                            },
                        )
                        return
                    key = "refusal" if model == "refuse" else "content"
                    yield None, chunk({key: piece})
            yield None, chunk({}, finish)
            if include_usage:
                yield (
                    None,
                    {
                        "id": cid,
                        "object": "chat.completion.chunk",
                        "created": CREATED,
                        "model": f"{model}-2024",
                        "choices": [],
                        "usage": usage,
                    },
                )
            yield None, "[DONE]"

        self._send_events(events())

    # -------------------------------------------------------------- legacy completions
    def _completions(self, body: dict[str, Any], model: str) -> None:
        prompt = body.get("prompt")
        prompt_text = prompt if isinstance(prompt, str) else str((prompt or [""])[0])
        text = f" Echo: {prompt_text}"
        digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        usage = {
            "prompt_tokens": _words(prompt_text),
            "completion_tokens": _words(text),
            "total_tokens": _words(prompt_text) + _words(text),
        }
        base = {
            "id": f"cmpl-{digest}",
            "object": "text_completion",
            "created": CREATED,
            "model": f"{model}-2024",
        }
        if not body.get("stream"):
            self._send_json(
                200,
                {
                    **base,
                    "choices": [
                        {"text": text, "index": 0, "logprobs": None, "finish_reason": "stop"}
                    ],
                    "usage": usage,
                },
            )
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def events() -> Iterator[tuple[str | None, Any]]:
            for piece in _pieces(text):
                yield (
                    None,
                    {
                        **base,
                        "choices": [
                            {"text": piece, "index": 0, "logprobs": None, "finish_reason": None}
                        ],
                    },
                )
            yield (
                None,
                {
                    **base,
                    "choices": [
                        {"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}
                    ],
                },
            )
            if include_usage:
                yield None, {**base, "choices": [], "usage": usage}
            yield None, "[DONE]"

        self._send_events(events())

    # -------------------------------------------------------------- Responses API
    def _responses(self, body: dict[str, Any], model: str) -> None:
        user_text = _responses_user_text(body)
        text = self._answer(body, user_text)
        digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        rid, mid = f"resp_{digest}", f"msg_{digest}"
        input_tokens = _words(user_text) + _words(str(body.get("instructions") or ""))
        tools = body.get("tools") or []
        output: list[dict[str, Any]]
        items = body.get("input")
        answered = (
            isinstance(items, list)
            and bool(items)
            and items[-1].get("type") == "function_call_output"
        )
        if (model == "tools" or (model == "agent" and not answered)) and tools:
            output = [
                {
                    "type": "function_call",
                    "id": f"fc_{digest[:8]}",
                    "call_id": f"call_{digest[:8]}",
                    "name": tools[0]["name"],
                    "arguments": '{"city": "Paris"}',
                    "status": "completed",
                }
            ]
            output_tokens = 5
        else:
            output = [
                {
                    "type": "message",
                    "id": mid,
                    "status": "completed",
                    "role": "assistant",
                    "content": [
                        {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
                    ],
                }
            ]
            output_tokens = _words(text)
        usage = {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }

        def response(status: str, out: list[dict[str, Any]], use: Any) -> dict[str, Any]:
            return {
                "id": rid,
                "object": "response",
                "created_at": CREATED,
                "status": status,
                "model": f"{model}-2024",
                "output": out,
                "usage": use,
                "error": None,
                "incomplete_details": None,
                "instructions": body.get("instructions"),
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": tools,
                "temperature": body.get("temperature"),
                "top_p": body.get("top_p"),
                "metadata": {},
                "text": {"format": {"type": "text"}},
            }

        if not body.get("stream"):
            self._send_json(200, response("completed", output, usage))
            return

        def events() -> Iterator[tuple[str | None, Any]]:
            seq = iter(range(1000))

            def ev(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
                return kind, {"type": kind, "sequence_number": next(seq), **fields}

            if model == "slow-stream":
                self._wait()
            yield ev("response.created", response=response("in_progress", [], None))
            if output[0]["type"] == "message":
                item = {**output[0], "status": "in_progress", "content": []}
                yield ev("response.output_item.added", output_index=0, item=item)
                yield ev(
                    "response.content_part.added",
                    item_id=mid,
                    output_index=0,
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": []},
                )
                for piece in _pieces(text):
                    yield ev(
                        "response.output_text.delta",
                        item_id=mid,
                        output_index=0,
                        content_index=0,
                        delta=piece,
                        logprobs=[],
                    )
                yield ev(
                    "response.output_text.done",
                    item_id=mid,
                    output_index=0,
                    content_index=0,
                    text=text,
                    logprobs=[],
                )
            yield ev("response.output_item.done", output_index=0, item=output[0])
            yield ev("response.completed", response=response("completed", output, usage))

        self._send_events(events())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, slow_seconds: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.slow_seconds = slow_seconds
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout test) closes the socket under a slow handler.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class OpenAIServer:
    """The server on 127.0.0.1 at a free port, served from a background thread."""

    def __init__(self, *, slow_seconds: float = 0.5) -> None:
        self._server = _Server(slow_seconds)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give the ``openai`` client (``http://127.0.0.1:<port>/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[tuple[str, dict[str, Any]]]:
        """Every request received so far, as ``(path, JSON body)``."""
        with self._server.lock:
            return list(self._server.requests)

    def start(self) -> OpenAIServer:
        """Start serving; returns ``self``."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, release slow handlers and close the socket."""
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
