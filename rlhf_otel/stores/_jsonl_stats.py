"""Feedback statistics straight from JSONL bytes: regexes for the common lines, JSON for the rest.

The schema's key order is fixed (``rlhf_otel._schema``), so the fields statistics need sit
at known places on a line. Lines the patterns do not cover (other feedback types, unusual
values, another writer's formatting) are parsed as JSON, so the result never depends on
which path a line took.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Final

from rlhf_otel._schema import format_timestamp, parse_timestamp
from rlhf_otel._stats import FeedbackStats, StatsAccumulator
from rlhf_otel.stores._jsonl_format import loads_line
from rlhf_otel.stores._jsonl_read import SegmentReader

__all__ = ["jsonl_stats"]

_TS: Final = rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)"
_STR: Final = rb'"(?:[^"\\\n]|\\.)*"'
_NUM: Final = rb"(-?\d+(?:\.\d+)?)"
_INTERACTION: Final = re.compile(
    rb'\n\{"schema_version":1,"kind":"interaction","id":"([^"\\\n]*)","timestamp":"' + _TS
)
_FEEDBACK: Final = re.compile(
    rb'\n\{"schema_version":1,"kind":"feedback","id":"[^"\\\n]*",'
    rb'"interaction_id":"([^"\\\n]*)","type":"(?:'
    rb'binary","data":\{"value":"(thumbs_up|thumbs_down)"'
    rb'|rating","data":\{"rating":' + _NUM + rb',"min_rating":' + _NUM
    + rb',"max_rating":' + _NUM + rb',"comment":(?:null|' + _STR + rb")"
    rb'|text","data":\{"comment":"((?:[^"\\\n]|\\.)*)",'
    rb'"sentiment":(?:null|"(positive|negative|neutral)")'
    rb')\},"timestamp":"' + _TS
    + rb'"[^\n]*,"target_ids":\["([^"\\\n]*)"\],'
    rb'"trace_id":(?:null|"[0-9a-f]*"),"span_id":(?:null|"[0-9a-f]*")\}(?=\n)'
)


class _Range:
    def __init__(self, start: datetime | None, end: datetime | None) -> None:
        self.start, self.end = start, end
        self.lo = b"" if start is None else format_timestamp(start).encode()
        self.hi = b"\xff" if end is None else format_timestamp(end).encode()

    def contains(self, ts: object) -> bool:
        """Slow-path check of any timestamp string."""
        if not isinstance(ts, str):
            return False
        try:
            t = parse_timestamp(ts)
        except ValueError:
            return False
        return (self.start is None or t >= self.start) and (self.end is None or t <= self.end)


def jsonl_stats(
    reader: SegmentReader, start: datetime | None, end: datetime | None
) -> FeedbackStats:
    """Statistics of every record in ``[start, end]`` of one store."""
    rng = _Range(start, end)
    acc = StatsAccumulator()
    lo = None if start is None else rng.lo.decode()
    hi = None if end is None else rng.hi.decode()
    for stem, loc, block in reader.iter_blocks("interactions", lo, hi):
        _interactions(acc, rng, block, reader, stem, loc)
    for stem, loc, block in reader.iter_blocks("feedback", lo, hi):
        _feedback(acc, rng, block, reader, stem, loc)
    return acc.result(start, end)  # type: ignore[arg-type]  # end None only for direct calls


def _interactions(
    acc: StatsAccumulator, rng: _Range, block: bytes, reader: SegmentReader, stem: str, loc: int
) -> None:
    buf = b"\n" + block
    found = _INTERACTION.findall(buf)
    lo, hi = rng.lo, rng.hi
    if len(found) == block.count(b"\n"):
        acc.interaction_ids.update([i.decode() for i, ts in found if lo <= ts <= hi])
        return
    for line in block.split(b"\n")[:-1]:
        _slow_line(acc, rng, line, "interaction", reader, stem, loc)


def _feedback(
    acc: StatsAccumulator, rng: _Range, block: bytes, reader: SegmentReader, stem: str, loc: int
) -> None:
    buf = b"\n" + block
    lo, hi = rng.lo, rng.hi
    pos = 0
    up = down = 0
    targets: list[bytes] = []
    add = acc.add_feedback_fields
    for m in _FEEDBACK.finditer(buf):
        s = m.start()
        if s != pos:
            for line in buf[pos + 1 : s].split(b"\n"):
                _slow_line(acc, rng, line, "feedback", reader, stem, loc)
        pos = m.end()
        iid, value, rating, low, high, comment, sentiment, ts, target = m.groups()
        if not (lo <= ts <= hi) or target != iid:
            if target != iid:
                _slow_line(acc, rng, buf[s + 1 : pos], "feedback", reader, stem, loc)
            continue
        if value is not None:
            if value == b"thumbs_up":
                up += 1
            else:
                down += 1
            targets.append(iid)
            continue
        sid = iid.decode()
        if rating is not None:
            data = {"rating": _num(rating), "min_rating": _num(low), "max_rating": _num(high)}
            add("rating", data, sid, (sid,))
        else:
            text = comment.decode() if b"\\" not in comment else json.loads(b'"' + comment + b'"')
            add("text", {"comment": text, "sentiment": _str(sentiment)}, sid, (sid,))
    if pos < len(buf) - 1:
        for line in buf[pos + 1 : -1].split(b"\n"):
            _slow_line(acc, rng, line, "feedback", reader, stem, loc)
    if up or down:
        _add_binary(acc, up, down, targets)


def _add_binary(acc: StatsAccumulator, up: int, down: int, targets: Iterable[bytes]) -> None:
    # the bulk form of add_feedback_fields("binary", ...) for up + down records
    acc.total_feedback += up + down
    acc.by_type["binary"] += up + down
    acc.thumbs_up += up
    acc.thumbs_down += down
    acc.targeted.update([t.decode() for t in targets])


def _num(raw: bytes) -> float | int:
    return float(raw) if b"." in raw else int(raw)


def _str(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode()


def _slow_line(
    acc: StatsAccumulator,
    rng: _Range,
    line: bytes,
    kind: str,
    reader: SegmentReader,
    stem: str,
    loc: int,
) -> None:
    if not line:
        return
    d = loads_line(line)
    if d is None or d.get("kind") != kind:
        reader.problems.add("unreadable_line", stem, loc)
        return
    if not rng.contains(d.get("timestamp")):
        return
    try:
        if kind == "interaction":
            acc.add_interaction_id(d["id"])
        else:
            acc.add_feedback_fields(
                d["type"], d["data"], d["interaction_id"], d.get("target_ids") or ()
            )
    except (KeyError, TypeError, ValueError, AttributeError):
        reader.problems.add("unreadable_line", stem, loc)
