"""A local ZeroDB-compatible tables API on 127.0.0.1, with fault injection on demand.

Implements the contract of the official ``ainative-python`` SDK (``ainative/zerodb/tables.py``)
under ``/api/v1``: create/list/get/delete tables, insert (at most 1000 rows a request), query
with MongoDB-style ``filter``/``sort``/``projection`` and ``limit``/``offset`` paging, update
and delete rows; the ``X-API-Key`` header; gzip request bodies (``Content-Encoding: gzip``,
or 415 when turned off). It does not deduplicate rows: a client that sends a row twice stores
it twice, which is what the store's tests check against.

Faults (``server.inject(...)``), consumed one per matching request:

- ``status``: answer ``code`` (with ``Retry-After`` if given) without committing anything;
  with ``body``, that text is the answer's body as is (e.g. a server echoing the key);
- ``hang``: hold the request ``seconds`` without committing, then close the connection;
- ``drop_after_commit``: commit the rows, then close the connection without an answer;
- ``redirect``: answer 307 to the same path on ``location`` (another server);
- ``delay``: wait ``seconds``, then answer normally;
- ``reject_ids`` (``server.reject_ids``): 422 for any insert holding one of these row ids.

``server.outage(seconds)`` closes the listening socket and every open connection (clients get
"connection refused") and listens again on the same port after ``seconds``; with
``mode="503"`` it answers 503 to everything for that long instead.

Run standalone (benchmarks): ``python -m tests.servers.zerodb_server --api-key K`` prints
``READY <port>`` and serves until stdin closes.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers.mongo_filter import FilterError, matches, project, sort_rows

__all__ = ["Fault", "Raw", "RequestRecord", "ZeroDBServer"]

MAX_ROWS = 1000
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "json": (dict, list, str, int, float, bool),
}
_ROUTES = [
    ("tables", re.compile(r"^/api/v1/projects/(?P<p>[^/]+)/database/tables/?$")),
    ("rows", re.compile(r"^/api/v1/projects/(?P<p>[^/]+)/database/tables/(?P<t>[^/]+)/rows$")),
    ("query", re.compile(r"^/api/v1/projects/(?P<p>[^/]+)/database/tables/(?P<t>[^/]+)/query$")),
    ("table", re.compile(r"^/api/v1/projects/(?P<p>[^/]+)/database/tables/(?P<t>[^/]+)$")),
]


class Raw(str):
    """An answer body sent as is, not JSON-encoded."""


class _Answer(Exception):
    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, dict(headers or {})


@dataclass
class Fault:
    """One injected fault (see the module docstring)."""

    kind: str
    route: str = "rows"
    times: int = 1
    code: int = 503
    retry_after: str | None = None
    seconds: float = 0.0
    location: str = ""
    body: str | None = None


@dataclass
class RequestRecord:
    """What the server saw of one request (never the key itself); logged on arrival."""

    method: str
    path: str
    route: str
    status: int | None = None
    rows: int = 0
    fault: str | None = None
    authorized: bool = False
    gzip: bool = False
    idempotency_key: str | None = None
    at: float = 0.0
    query: Any = None


@dataclass
class _Table:
    name: str
    schema: dict[str, Any]
    table_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: float = field(default_factory=time.time)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        return {
            "table_id": self.table_id,
            "table_name": self.name,
            "schema": self.schema,
            "row_count": len(self.rows),
            "created_at": self.created_at,
        }


class _Closed(Exception):
    """The fault closes the connection without an answer."""


class ZeroDBServer:
    """A real HTTP server on a free loopback port; use as a context manager or start/stop."""

    def __init__(
        self, api_key: str = "test-api-key", *, accept_gzip: bool = True, host: str = "127.0.0.1"
    ) -> None:
        self.api_key = api_key
        self.accept_gzip = accept_gzip
        self.host = host
        self.port = 0
        self.lock = threading.RLock()
        self.tables: dict[tuple[str, str], _Table] = {}
        self.requests: list[RequestRecord] = []
        self.faults: list[Fault] = []
        self.reject_ids: set[str] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._outage_until = 0.0
        self._outage_mode = ""
        self._reopen: threading.Timer | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (pass as the store's ``base_url``)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> ZeroDBServer:
        self._listen()
        return self

    def _listen(self) -> None:
        server = self

        class Handler(_Handler):
            owner = server

        httpd = _QuietServer((self.host, self.port), Handler)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"zerodb-server-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def _close_listener(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        with self.lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._stopping.set()
        if self._reopen is not None:
            self._reopen.cancel()
        self._close_listener()

    def __enter__(self) -> ZeroDBServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults and inspection -------------------------------------------------------------

    def inject(
        self,
        kind: str,
        *,
        route: str = "rows",
        times: int = 1,
        code: int = 503,
        retry_after: str | None = None,
        seconds: float = 0.0,
        location: str = "",
        body: str | None = None,
    ) -> None:
        """Queue a fault for the next ``times`` requests to ``route`` (``"any"`` matches all)."""
        with self.lock:
            self.faults.append(
                Fault(kind, route, times, code, retry_after, seconds, location, body)
            )

    def outage(self, seconds: float, *, mode: str = "refuse") -> None:
        """Go down for ``seconds``: refuse connections, or answer 503 (``mode="503"``)."""
        with self.lock:
            self._outage_until = time.monotonic() + seconds
            self._outage_mode = mode
        if mode == "refuse":
            self._close_listener()
            self._reopen = threading.Timer(seconds, self._end_refusal)
            self._reopen.daemon = True
            self._reopen.start()

    def _end_refusal(self) -> None:
        if not self._stopping.is_set():
            self._listen()

    def rows(
        self, table: str = "rlhf_feedback", project: str | None = None
    ) -> list[dict[str, Any]]:
        """The rows stored in ``table`` (of ``project``, or of the only project holding it)."""
        with self.lock:
            for (p, t), tab in self.tables.items():
                if t == table and (project is None or p == project):
                    return [dict(r) for r in tab.rows]
        return []

    def count(self, route: str | None = None, *, method: str | None = None) -> int:
        """Requests seen, optionally only to ``route`` / with ``method``."""
        with self.lock:
            return sum(
                1
                for r in self.requests
                if (route is None or r.route == route) and (method is None or r.method == method)
            )

    # -- request handling ------------------------------------------------------------------

    def _take_fault(self, route: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.route in (route, "any"):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def handle(self, h: _Handler, method: str) -> None:
        path = h.path.split("?", 1)[0]
        route, params = "unknown", {}
        for name, pattern in _ROUTES:
            m = pattern.match(path)
            if m:
                route, params = name, m.groupdict()
                break
        authorized = h.headers.get("X-API-Key") == self.api_key
        gz = h.headers.get("Content-Encoding", "").lower() == "gzip"
        record = RequestRecord(
            method=method,
            path=path,
            route=route,
            authorized=authorized,
            gzip=gz,
            idempotency_key=h.headers.get("Idempotency-Key"),
            at=time.monotonic(),
        )
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self.lock:
            self.requests.append(record)
        try:
            with self.lock:
                outage = time.monotonic() < self._outage_until and self._outage_mode == "503"
            if outage:
                raise _Answer(503, {"detail": "Service Unavailable"}, {"Retry-After": "1"})
            fault = self._take_fault(route)
            if fault is not None:
                record.fault = fault.kind
                self._pre_fault(fault, path)
            if not authorized:
                raise _Answer(401, {"detail": "Invalid or missing API key"})
            body = self._decode(raw, h.headers.get("Content-Encoding", ""))
            if isinstance(body, Mapping) and isinstance(body.get("rows"), list):
                record.rows = len(body["rows"])
            if route == "query" and isinstance(body, Mapping):
                record.query = dict(body)
            result = self._dispatch(route, method, params, body)
            if fault is not None and fault.kind == "drop_after_commit":
                raise _Closed()
            # The record is complete before the client can see the answer.
            record.status = result.status
            h.answer(result.status, result.body, result.headers)
        except _Answer as a:
            record.status = a.status
            h.answer(a.status, a.body, a.headers)
        except _Closed:
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)

    def _pre_fault(self, fault: Fault, path: str) -> None:
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            body = (
                Raw(fault.body) if fault.body is not None else {"detail": f"injected {fault.code}"}
            )
            raise _Answer(fault.code, body, headers)
        if fault.kind == "hang":
            self._stopping.wait(fault.seconds)
            raise _Closed()
        if fault.kind == "redirect":
            raise _Answer(307, {"detail": "moved"}, {"Location": fault.location.rstrip("/") + path})
        if fault.kind == "delay":
            self._stopping.wait(fault.seconds)

    def _decode(self, raw: bytes, encoding: str) -> Any:
        encoding = encoding.lower().strip()
        if encoding == "gzip":
            if not self.accept_gzip:
                raise _Answer(415, {"detail": "Content-Encoding gzip is not supported"})
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError) as exc:
                raise _Answer(400, {"detail": f"bad gzip body: {exc}"}) from exc
        elif encoding not in ("", "identity"):
            raise _Answer(415, {"detail": f"unsupported Content-Encoding {encoding}"})
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise _Answer(400, {"detail": f"invalid JSON: {exc}"}) from exc

    def _table(self, project: str, name: str) -> _Table:
        table = self.tables.get((project, name))
        if table is None:
            raise _Answer(404, {"detail": f"Table '{name}' not found"})
        return table

    def _dispatch(self, route: str, method: str, p: dict[str, str], body: Any) -> _Answer:
        if route == "unknown":
            raise _Answer(404, {"detail": "Not Found"})
        allowed = {
            "tables": ("GET", "POST"),
            "table": ("GET", "DELETE"),
            "rows": ("POST", "PUT", "DELETE"),
            "query": ("POST",),
        }[route]
        if method not in allowed:
            raise _Answer(405, {"detail": "Method Not Allowed"})
        if method in ("POST", "PUT") and not isinstance(body, Mapping):
            raise _Answer(422, {"detail": "request body must be a JSON object"})
        body = body if isinstance(body, Mapping) else {}
        with self.lock:
            try:
                return getattr(self, f"_{route}_{method.lower()}")(p, body)
            except FilterError as exc:
                raise _Answer(400, {"detail": f"invalid query: {exc}"}) from exc

    def _tables_post(self, p: dict[str, str], body: Mapping[str, Any]) -> _Answer:
        name, schema = body.get("table_name"), body.get("schema")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
            raise _Answer(422, {"detail": "table_name must be an identifier"})
        if not isinstance(schema, Mapping) or not isinstance(schema.get("fields"), Mapping):
            raise _Answer(422, {"detail": "schema.fields must be an object"})
        fields = schema["fields"]
        if any(t not in _TYPES for t in fields.values()):
            raise _Answer(422, {"detail": f"field types must be among {sorted(_TYPES)}"})
        indexes = schema.get("indexes", [])
        if not isinstance(indexes, list) or any(i not in fields for i in indexes):
            raise _Answer(422, {"detail": "indexes must name fields of the schema"})
        if (p["p"], name) in self.tables:
            raise _Answer(409, {"detail": f"Table '{name}' already exists"})
        table = _Table(name, dict(schema))
        self.tables[(p["p"], name)] = table
        return _Answer(201, table.info())

    def _tables_get(self, p: dict[str, str], body: Mapping[str, Any]) -> _Answer:
        tables = [t.info() for (proj, _), t in self.tables.items() if proj == p["p"]]
        return _Answer(200, {"tables": tables, "total": len(tables)})

    def _table_get(self, p: dict[str, str], body: Mapping[str, Any]) -> _Answer:
        return _Answer(200, self._table(p["p"], p["t"]).info())

    def _table_delete(self, p: dict[str, str], body: Mapping[str, Any]) -> _Answer:
        table = self._table(p["p"], p["t"])
        if body.get("confirm") is not True:
            raise _Answer(400, {"detail": "confirm must be true"})
        del self.tables[(p["p"], p["t"])]
        return _Answer(200, {"rows_deleted": len(table.rows)})

    def _rows_post(self, p: dict[str, str], body: Mapping[str, Any]) -> _Answer:
        table = self._table(p["p"], p["t"])
        rows = body.get("rows")
        if not isinstance(rows, list) or not rows:
            raise _Answer(422, {"detail": "rows must be a non-empty array"})
        if len(rows) > MAX_ROWS:
            raise _Answer(422, {"detail": f"Maximum {MAX_ROWS} rows per request"})
        fields = table.schema.get("fields", {})
        for n, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise _Answer(422, {"detail": f"rows[{n}] must be an object"})
            for key, kind in fields.items():
                value = row.get(key)
                ok = value is None or (
                    isinstance(value, _TYPES[kind])
                    and not (isinstance(value, bool) and kind != "boolean")
                )
                if not ok:
                    raise _Answer(422, {"detail": f"rows[{n}].{key} must be {kind}"})
            if row.get("id") in self.reject_ids:
                raise _Answer(422, {"detail": f"rows[{n}] rejected"})
        ids = []
        for row in rows:
            stored = dict(row)
            stored["row_id"] = str(uuid.uuid4())
            stored["created_at"] = time.time()
            table.rows.append(stored)
            ids.append(stored["row_id"])
        answer: dict[str, Any] = {"inserted_count": len(rows)}
        if body.get("return_ids", True):
            answer["row_ids"] = ids
        return _Answer(201, answer)

    def _query_post(self, p: dict[str, str], body: Mapping[str, Any]) -> _Answer:
        table = self._table(p["p"], p["t"])
        limit, offset = body.get("limit", 100), body.get("offset", 0)
        if not isinstance(limit, int) or not 0 <= limit <= MAX_ROWS:
            raise _Answer(422, {"detail": f"limit must be 0..{MAX_ROWS}"})
        if not isinstance(offset, int) or offset < 0:
            raise _Answer(422, {"detail": "offset must be >= 0"})
        hits = [r for r in table.rows if matches(r, body.get("filter"))]
        hits = sort_rows(hits, body.get("sort"))
        page = [project(r, body.get("projection")) for r in hits[offset : offset + limit]]
        return _Answer(200, {"rows": page, "total": len(hits), "limit": limit, "offset": offset})

    def _rows_put(self, p: dict[str, str], body: Mapping[str, Any]) -> _Answer:
        table = self._table(p["p"], p["t"])
        update = body.get("update")
        if not isinstance(update, Mapping) or set(update) - {"$set", "$unset"}:
            raise _Answer(422, {"detail": "update supports $set and $unset"})
        hits = [r for r in table.rows if matches(r, body.get("filter"))]
        for row in hits:
            row.update(update.get("$set", {}))
            for key in update.get("$unset", {}):
                row.pop(key, None)
        return _Answer(200, {"modified_count": len(hits), "matched_count": len(hits)})

    def _rows_delete(self, p: dict[str, str], body: Mapping[str, Any]) -> _Answer:
        table = self._table(p["p"], p["t"])
        limit = body.get("limit", 0)
        hits = [r for r in table.rows if matches(r, body.get("filter"))]
        if limit:
            hits = hits[:limit]
        doomed = {id(r) for r in hits}
        table.rows = [r for r in table.rows if id(r) not in doomed]
        return _Answer(200, {"deleted_count": len(hits)})


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections cut by an outage or a fault are expected; no traceback on stderr."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, delayed ACKs add ~40 ms.
    disable_nagle_algorithm = True
    owner: ZeroDBServer

    def setup(self) -> None:
        super().setup()
        with self.owner.lock:
            self.owner._conns.add(self.connection)

    def finish(self) -> None:
        with self.owner.lock:
            self.owner._conns.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def answer(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        data = body.encode() if isinstance(body, Raw) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the server's record of requests is ``owner.requests``."""

    def do_GET(self) -> None:
        self.owner.handle(self, "GET")

    def do_POST(self) -> None:
        self.owner.handle(self, "POST")

    def do_PUT(self) -> None:
        self.owner.handle(self, "PUT")

    def do_DELETE(self) -> None:
        self.owner.handle(self, "DELETE")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-key", default="test-api-key")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = ZeroDBServer(args.api_key)
    server.port = args.port
    server.start()
    print(f"READY {server.port}", flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
