"""Shared helpers of the ZeroDB store tests: records, fast settings, the accounting checks."""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote

from rlhf_otel.records import Feedback, FeedbackType, Interaction, TokenUsage
from rlhf_otel.stores.zerodb import ZeroDBStore
from tests.servers.zerodb_server import ZeroDBServer

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def new_key() -> str:
    """A unique API key, so a leak check can grep for it."""
    return "zdbk_" + secrets.token_hex(20)


def interactions(
    n: int,
    prefix: str = "i",
    *,
    user: str = "u1",
    session: str = "s1",
    model: str = "m1",
    start: int = 0,
) -> list[Interaction]:
    """``n`` interactions one second apart from ``T0``."""
    return [
        Interaction(
            id=f"{prefix}{k}",
            prompt=f"question {k}",
            response=f"answer {k}",
            timestamp=T0 + timedelta(seconds=k),
            model=model,
            user_id=user,
            session_id=session,
            token_usage=TokenUsage(3, 4, 7),
            metadata={"k": k},
        )
        for k in range(start, start + n)
    ]


def ratings(n: int, prefix: str = "f", *, target: str = "i", user: str = "u1") -> list[Feedback]:
    """``n`` rating feedbacks 1..5 on interactions ``{target}{k}``."""
    return [
        Feedback(
            id=f"{prefix}{k}",
            interaction_id=f"{target}{k}",
            type=FeedbackType.RATING,
            data={"rating": k % 5 + 1, "max_rating": 5},
            timestamp=T0 + timedelta(seconds=k),
            user_id=user,
            session_id="s1",
            target_ids=(f"{target}{k}",),
        )
        for k in range(n)
    ]


def fast(server: ZeroDBServer, key: str, spool_dir: Path, **overrides: Any) -> dict[str, Any]:
    """Store settings with short timeouts and backoffs, for tests."""
    settings: dict[str, Any] = dict(
        project_id="proj1",
        api_key=key,
        base_url=server.url,
        spool_dir=spool_dir,
        connect_timeout=1.0,
        request_timeout=1.0,
        retry_budget=3.0,
        backoff_base=0.01,
        backoff_max=0.05,
        retry_after_max=2.0,
        probe_interval=0.2,
        flush_timeout=5.0,
        read_timeout=3.0,
        linger=0.0,
    )
    settings.update(overrides)
    return settings


def stored_ids(server: ZeroDBServer) -> list[str]:
    """Ids of every row the server holds, duplicates included."""
    return [row["id"] for row in server.rows()]


def assert_unique(server: ZeroDBServer) -> set[str]:
    """The server holds no row twice; returns the ids it holds."""
    ids = stored_ids(server)
    dupes = {i: c for i, c in Counter(ids).items() if c > 1}
    assert dupes == {}
    return set(ids)


def assert_accounted(store: ZeroDBStore, logged: int) -> None:
    """delivered + dropped + spooled (+ still in memory) == logged."""
    st = store.status()
    assert st.accepted == logged
    total = st.delivered + sum(st.dropped.values()) + st.spooled + st.queued + st.in_flight
    assert total == logged


def spool_lines(spool_root: Path) -> list[dict[str, Any]]:
    """Every record waiting in spool files under ``spool_root``."""
    out = []
    for path in sorted(spool_root.rglob("spool-*")):
        for line in path.read_text().splitlines():
            out.append(json.loads(line))
    return out


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` every 10 ms until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def assert_no_leak(key: str, *texts: str, roots: tuple[Path, ...] = ()) -> None:
    """``key`` appears in none of ``texts`` and in no file under ``roots``."""
    for text in texts:
        assert key not in text
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                assert key.encode() not in path.read_bytes(), path


def slashed_key() -> str:
    """A unique API key holding ``/``, ``+`` and ``=``, which every encoding writes differently."""
    return "zdbk/" + secrets.token_hex(12) + "+/=" + secrets.token_hex(8)


def key_encodings(key: str) -> dict[str, str]:
    """The key as a careless server might echo it, by name of the encoding."""
    raw = key.encode()
    as_json = json.dumps(key)[1:-1]
    return {
        "raw": key,
        "json_slash": as_json.replace("/", "\\/"),
        "json_unicode": "".join(f"\\u{ord(c):04x}" for c in key),
        "url": quote(key, safe=""),
        "url_lower": "".join(f"%{b:02x}" for b in raw),
        "url_plus": quote_plus(key),
        "base64": base64.b64encode(raw).decode(),
        "base64_url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "basic_auth": base64.b64encode(b"user:" + raw).decode(),
        "hex": raw.hex().upper(),
        "html": html.escape(key).replace("/", "&#x2F;").replace("+", "&#43;"),
    }


def echo_body(key: str, filler: int = 20_000) -> str:
    """A JSON error body quoting the key in every encoding, then ``filler`` more characters."""
    parts = [f'"{name}": "{value}"' for name, value in key_encodings(key).items()]
    return '{"detail": "bad key", ' + ", ".join(parts) + f', "pad": "{"x" * filler}"}}'


_B64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{8,}")
_HEX_TOKEN = re.compile(r"[0-9A-Fa-f]{12,}")


def key_traces(text: str, key: str) -> list[str]:
    """Every way ``text`` still reveals ``key`` (decoding what a reader could decode)."""
    raw = key.encode()
    found = []
    views = {
        "plain": text,
        "url": unquote(text),
        "html": html.unescape(text),
        "json": re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text).replace(
            "\\/", "/"
        ),
    }
    for name, view in views.items():
        if key.lower() in view.lower():
            found.append(name)
    for token in _B64_TOKEN.findall(text):
        for shift in range(4):
            chunk = token[shift:]
            chunk = chunk[: len(chunk) // 4 * 4] if len(chunk) % 4 == 1 else chunk
            chunk += "=" * (-len(chunk) % 4)
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    if raw in decode(chunk):
                        found.append("base64")
                except ValueError:
                    pass
    for token in _HEX_TOKEN.findall(text):
        for shift in range(2):
            chunk = token[shift:]
            if raw in bytes.fromhex(chunk[: len(chunk) // 2 * 2]):
                found.append("hex")
    return found
