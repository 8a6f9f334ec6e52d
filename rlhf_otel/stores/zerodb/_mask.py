"""Masking the API key in every encoding a server might echo it in, and capping quoted text."""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import threading
import weakref
from typing import Final
from urllib.parse import quote, quote_plus, unquote

__all__ = ["MASK", "MAX_QUOTED_CHARS", "KeyMask", "guard_http_logs"]

MASK: Final = "***"
MAX_QUOTED_CHARS: Final = 200
"""The most characters of a server's answer (or an error text) quoted in a message."""
MIN_KEY_CHARS: Final = 6
_SCAN_CHARS: Final = 8192
_JSON_ESCAPES: Final = {
    "/": "/",
    "\\": "\\",
    '"': '"',
    "b": " ",
    "f": " ",
    "n": " ",
    "r": " ",
    "t": " ",
}
_ESCAPE: Final = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
    r"|\\u([0-9a-fA-F]{4})|\\([/\\\"bfnrt])"
)
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]+")


def _base64_cores(raw: bytes) -> list[str]:
    """The characters of base64 that depend on ``raw`` alone, at each byte alignment.

    The key may sit inside a longer encoded value (``user:key`` in Basic auth), so its
    base64 starts at any of three alignments; the first and last characters of each also
    depend on the neighbouring bytes and are left out.
    """
    cores = []
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * shift + raw).decode().rstrip("=")
            start, end = -(-8 * shift // 6), 8 * (shift + len(raw)) // 6
            cores.append(text[start:end])
    return cores


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1):
            high, low = int(m.group(1), 16), int(m.group(2), 16)
            return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        if m.group(3):
            return chr(int(m.group(3), 16))
        return _JSON_ESCAPES[m.group(4)]

    return _ESCAPE.sub(one, text)


class KeyMask:
    """Replaces the key in text, in whatever encoding it appears, and caps the result.

    Masked forms: the key as is, JSON-escaped (``\\/`` and ``\\uXXXX`` included),
    percent-encoded (either case), HTML-escaped, hex, and base64 (standard and URL-safe, at
    any alignment). Text is masked, then decoded (JSON escapes, ``%XX``, HTML entities) and
    masked again until nothing changes, so escapes mixed with one another do not hide it.
    A key shorter than six characters cannot be told apart from ordinary words; it is not
    searched for (it is never sent anywhere but the ``X-API-Key`` header either way).
    """

    __slots__ = ("__weakref__", "_exact", "_folded", "_longest", "_prefixes")

    def __init__(self, key: str) -> None:
        self._exact: re.Pattern[str] | None = None
        self._folded: re.Pattern[str] | None = None
        self._longest = 0
        self._prefixes: tuple[str, ...] = ()
        if len(key) < MIN_KEY_CHARS:
            return
        raw = key.encode("utf-8", "surrogatepass")
        as_json = json.dumps(key)[1:-1]
        folded = {
            key,
            as_json,
            as_json.replace("/", "\\/"),
            json.dumps(key, ensure_ascii=False)[1:-1],
            "".join(f"\\u{ord(c):04x}" for c in key),
            quote(key, safe=""),
            quote(key, safe="/"),
            quote_plus(key, safe=""),
            "".join(f"%{b:02x}" for b in raw),
            html.escape(key),
            raw.hex(),
        }
        exact = {core for core in _base64_cores(raw) if len(core) >= MIN_KEY_CHARS}
        forms = folded | exact
        self._longest = max(len(f) for f in forms)
        self._prefixes = tuple(forms)
        self._folded = _alternation(folded, re.IGNORECASE)
        self._exact = _alternation(exact, 0)

    def _mask_once(self, text: str) -> str:
        if self._folded is not None:
            text = self._folded.sub(MASK, text)
        if self._exact is not None:
            text = self._exact.sub(MASK, text)
        return text

    def _drop_partial_tail(self, text: str) -> str:
        # The text was cut: a key cut in half at the end would survive masking.
        lowered = text.lower()
        for form in self._prefixes:
            for n in range(min(len(form), len(text)) - 1, 2, -1):
                if lowered.endswith(form[:n].lower()):
                    return text[:-n] + MASK
        return text

    def scrub(self, text: str) -> str | None:
        """``text`` masked if it reveals the key in any form, else ``None`` (unchanged)."""
        if self._folded is None:
            return None
        plain = html.unescape(unquote(_unescape(text), errors="replace"))
        if self._mask_once(text) == text and self._mask_once(plain) == plain:
            return None
        return self(text, None)

    def __call__(self, text: str, limit: int | None = MAX_QUOTED_CHARS) -> str:
        """``text`` with the key masked, on one line, cut to ``limit`` characters."""
        scan = _SCAN_CHARS + 2 * self._longest
        if len(text) > scan:
            text = text[:scan]
            text = self._drop_partial_tail(text)
        for _ in range(4):
            masked = self._mask_once(text)
            decoded = html.unescape(unquote(_unescape(masked), errors="replace"))
            if decoded == masked:
                text = masked
                break
            text = decoded
        else:
            text = self._mask_once(text)
        text = " ".join(_CONTROL.sub(" ", text).split())
        if limit is not None and len(text) > limit:
            text = text[: max(limit - 1, 0)] + "…"
        return text


def _alternation(forms: set[str], flags: int) -> re.Pattern[str] | None:
    if not forms:
        return None
    ordered = sorted(forms, key=len, reverse=True)
    return re.compile("|".join(re.escape(f) for f in ordered), flags)


# httpx and httpcore log response headers at DEBUG: a server echoing the key in one (a
# redirect's Location, say) would put it in the application's logs.
_HTTP_LOGGERS: Final = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)


class _KeyLogFilter(logging.Filter):
    """Masks the keys of live ZeroDB stores in the HTTP libraries' log records."""

    def __init__(self) -> None:
        super().__init__()
        self.masks: weakref.WeakSet[KeyMask] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        masks = list(self.masks)
        if not masks:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a broken record is the logging module's business, not ours
            return True
        changed = False
        for mask in masks:
            scrubbed = mask.scrub(text)
            if scrubbed is not None:
                text, changed = scrubbed, True
        if changed:
            record.msg, record.args = text, None
        return True


_FILTER: Final = _KeyLogFilter()
_FILTER_LOCK: Final = threading.Lock()
_ATTACHED: list[bool] = []


def guard_http_logs(mask: KeyMask) -> None:
    """Mask ``mask``'s key in httpx/httpcore log records while ``mask`` is alive."""
    with _FILTER_LOCK:
        _FILTER.masks.add(mask)
        if not _ATTACHED:
            for name in _HTTP_LOGGERS:
                logging.getLogger(name).addFilter(_FILTER)
            _ATTACHED.append(True)
