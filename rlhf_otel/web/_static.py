"""Static assets served from package data (read once, ETag, no file-system paths)."""

from __future__ import annotations

import hashlib
import mimetypes
from importlib import resources
from typing import Final

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from rlhf_otel.web._http import error_response

__all__ = ["PackageFiles"]

_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}


class PackageFiles:
    """An ASGI app serving the files of a package-data directory, by name.

    Every file is read into memory when the app is built; a request names a file, never a
    path, so nothing outside the directory can be reached. Answers carry an ``ETag`` (304
    on ``If-None-Match``), ``Cache-Control`` and ``Access-Control-Allow-Origin: *`` (assets
    are public, and a module script from another origin needs it).

    Args:
        package: e.g. ``"rlhf_otel.web"``.
        directory: the data directory inside it, e.g. ``"static"``.
        max_age: seconds browsers may cache an asset.
    """

    def __init__(self, package: str, directory: str = "static", *, max_age: int = 3600) -> None:
        self.files: dict[str, tuple[bytes, str, str]] = {}
        root = resources.files(package).joinpath(directory)
        for entry in root.iterdir():
            if not entry.is_file() or entry.name.startswith("."):
                continue
            body = entry.read_bytes()
            suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
            media = _TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0]
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            self.files[entry.name] = (body, media or "application/octet-stream", etag)
        self.cache_control = f"public, max-age={max_age}"

    def response(self, name: str, headers: Headers) -> Response:
        """The answer for file ``name`` (404 JSON if there is none)."""
        found = self.files.get(name)
        if found is None:
            return error_response(404, f"no asset named {name!r}")
        body, media, etag = found
        common = {
            "etag": etag,
            "cache-control": self.cache_control,
            "access-control-allow-origin": "*",
            "x-content-type-options": "nosniff",
        }
        if etag in {t.strip() for t in headers.get("if-none-match", "").split(",")}:
            return Response(status_code=304, headers=common)
        return Response(body, media_type=media, headers=common)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            response: Response = error_response(405, "assets answer GET and HEAD only")
        else:
            name = scope["path"].rsplit("/", 1)[-1]
            response = self.response(name, Headers(scope=scope))
        await response(scope, receive, send)
