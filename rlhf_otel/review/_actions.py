"""Skips (with a reason, kept in an owner-only JSONL file) and search within a queue."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from rlhf_otel._errors import ValidationError
from rlhf_otel.records import utc_now
from rlhf_otel.review._build import Item
from rlhf_otel.stores import Store

__all__ = ["MAX_REASON_CHARS", "SKIP_REASONS", "STATES", "SkipLog", "find_items", "matches"]

STATES: Final = ("done", "skipped", "open", "passed", "closed", "held", "todo")
"""What an item is for one reviewer (``LeaseBook.status``)."""

MAX_REASON_CHARS: Final = 500
SKIP_REASONS: Final = (
    "cannot judge (needs expertise)",
    "prompt unclear",
    "answer missing or broken",
    "sensitive content",
    "other",
)
"""Reasons the app offers; a reviewer may also type their own."""


class SkipLog:
    """Append-only record of skips and their undos: one JSON object a line
    (``{"at", "queue", "reviewer", "item", "action": "skip"|"undo", "reason"}``).

    The file is created owner-only; a torn final line (a crash mid-write) is ignored.
    ``path=None`` keeps skips in memory only.
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.Lock()

    def append(self, queue: str, reviewer: str, item: str, action: str, reason: str | None) -> None:
        """Store one skip or undo."""
        if self.path is None:
            return
        line = json.dumps(
            {
                "at": utc_now().isoformat(),
                "queue": queue,
                "reviewer": reviewer,
                "item": item,
                "action": action,
                "reason": reason,
            },
            ensure_ascii=False,
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def read(self, queue: str) -> Iterator[dict[str, Any]]:
        """The stored entries of ``queue``, oldest first."""
        if self.path is None or not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("queue") == queue:
                    yield entry


def matches(query: str, *texts: str | None) -> bool:
    """Whether every word of ``query`` occurs (case-insensitive) in one of ``texts``."""
    words = query.casefold().split()
    if not words:
        return True
    hay = "\n".join(t for t in texts if t).casefold()
    return all(w in hay for w in words)


def find_items(
    store: Store, items: Sequence[Item], states: Sequence[str], query: str, state: str
) -> dict[str, Any]:
    """Items whose prompt or answers contain every word of ``query`` and whose state (one
    per item, in ``states``) is ``state`` when given; at most 100 listed, all counted.

    Raises:
        ValidationError: an unknown state, or a query over 200 characters.
    """
    if state and state not in STATES:
        raise ValidationError(f"state must be one of {', '.join(STATES)}")
    if len(query) > 200:
        raise ValidationError("the search text must be at most 200 characters")
    found: list[dict[str, Any]] = []
    total = 0
    for pos, item in enumerate(items):
        if state and states[pos] != state:
            continue
        its = [store.get_interaction(i) for i in item.interaction_ids]
        if not matches(query, *(t for it in its if it for t in (it.prompt, it.response))):
            continue
        total += 1
        if len(found) < 100:
            prompt = next((it.prompt for it in its if it), "")
            found.append(
                {"key": item.key, "position": pos + 1, "state": states[pos], "prompt": prompt[:160]}
            )
    return {"items": found, "matches": total}
