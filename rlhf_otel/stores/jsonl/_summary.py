"""Per-segment statistics summaries: merge, and to and from bytes."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import fields
from typing import Any, Final

from rlhf_otel.records import StatsAccumulator
from rlhf_otel.stores.jsonl._format import _orjson

__all__ = ["Summary", "decode_summary", "encode_summary", "merge_stats"]

Summary = tuple[bytes, bytes, StatsAccumulator]
"""(smallest timestamp, largest timestamp, statistics) of one segment's records."""
_VERSION: Final = 1
_FIELDS: Final = [f.name for f in fields(StatsAccumulator)]


def merge_stats(dst: StatsAccumulator, src: StatsAccumulator) -> None:
    """Add ``src`` into ``dst``: the same as having fed ``dst`` the records of both."""
    for f in fields(StatsAccumulator):
        mine, theirs = getattr(dst, f.name), getattr(src, f.name)
        if isinstance(mine, set):
            mine.update(theirs)
        elif isinstance(mine, list):
            mine.extend(theirs)
        elif isinstance(mine, dict):  # Counter and the per-dimension sums alike add up
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        else:
            setattr(dst, f.name, mine + theirs)


def encode_summary(lo: bytes, hi: bytes, acc: StatsAccumulator) -> bytes:
    """The bytes of a summary (JSON)."""
    body: dict[str, Any] = {}
    for f in fields(StatsAccumulator):
        value = getattr(acc, f.name)
        body[f.name] = list(value) if isinstance(value, set) else value
    d = {"v": _VERSION, "fields": _FIELDS, "lo": lo.decode(), "hi": hi.decode(), "acc": body}
    if _orjson is not None:
        raw: bytes = _orjson.dumps(d, option=_orjson.OPT_NON_STR_KEYS)
        return raw
    return json.dumps(d).encode()


def decode_summary(raw: bytes) -> Summary | None:
    """A summary from its bytes; ``None`` if it is from another version or damaged."""
    try:
        d = _orjson.loads(raw) if _orjson is not None else json.loads(raw)
        if d["v"] != _VERSION or d["fields"] != _FIELDS:
            return None
        acc = StatsAccumulator()
        for f in fields(StatsAccumulator):
            mine = getattr(acc, f.name)
            value = d["acc"][f.name]
            if isinstance(mine, set):
                mine.update(map(tuple, value) if value and isinstance(value[0], list) else value)
            elif isinstance(mine, Counter):
                mine.update(value)
            else:
                setattr(acc, f.name, value)
        return d["lo"].encode(), d["hi"].encode(), acc
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
