"""Records as ZeroDB table rows and back, the table schema, and filters as MongoDB-style queries."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from rlhf_otel.records import (
    Feedback,
    FeedbackFilter,
    Interaction,
    InteractionFilter,
    feedback_to_dict,
    interaction_to_dict,
    json_default,
    merge_mongo,
    record_from_dict,
)

__all__ = [
    "TABLE_SCHEMA",
    "Row",
    "encode_record",
    "insert_body",
    "make_row",
    "feedback_query",
    "interaction_query",
    "record_from_row",
    "row_from_record",
]

TABLE_SCHEMA: Final[Mapping[str, Any]] = {
    "fields": {
        "id": "string",
        "type": "string",
        "interaction_id": "string",
        "feedback_type": "string",
        "target_ids": "array",
        "rating": "number",
        "timestamp": "string",
        "user_id": "string",
        "session_id": "string",
        "model": "string",
        "source": "string",
        "schema_version": "number",
        "idempotency_key": "string",
        "written_us": "number",
        "record": "object",
    },
    "indexes": [
        "id",
        "type",
        "interaction_id",
        "target_ids",
        "timestamp",
        "user_id",
        "session_id",
        "idempotency_key",
        "written_us",
    ],
}
"""The row schema created by ``initialize()``: the columns filters use, plus ``record``."""

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_META = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Row:
    """A row ready to send: its id, idempotency key, record JSON (the spool line), row JSON."""

    id: str
    key: str
    text: str
    json: str


def make_row(d: Mapping[str, Any], text: str, written_us: int) -> Row:
    """The :class:`Row` of schema dict ``d`` whose JSON is ``text`` (encoded once, here)."""
    meta = row_from_record(d, text, written_us)
    del meta["record"]
    body = _META.encode(meta)
    return Row(meta["id"], meta["idempotency_key"], text, f'{body[:-1]},"record":{text}}}')


def insert_body(rows: Sequence[Row]) -> bytes:
    """The insert request body for ``rows``, assembled from their pre-encoded JSON."""
    return ('{"rows":[' + ",".join(r.json for r in rows) + '],"return_ids":false}').encode()


SORT_WRITTEN: Final[Mapping[str, int]] = {"written_us": 1}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def encode_record(record: Interaction | Feedback) -> tuple[dict[str, Any], str]:
    """The schema dict of ``record`` and its JSON (the spool line and the row's ``record``).

    Values JSON cannot hold fall back to their ``repr``; NaN and infinities become ``null``
    (the service's JSON parser refuses them). Never raises for odd metadata.
    """
    d = interaction_to_dict(record) if isinstance(record, Interaction) else feedback_to_dict(record)
    try:
        text = _ENCODER.encode(d)
    except (TypeError, ValueError):
        d = _finite(json.loads(json.dumps(d, default=json_default)))
        text = _ENCODER.encode(d)
    return d, text


def row_from_record(d: Mapping[str, Any], text: str, written_us: int) -> dict[str, Any]:
    """The table row (as a dict) of a schema dict ``d`` whose JSON is ``text``.

    ``idempotency_key`` is a hash of ``text``: the same record sent twice carries the same
    key, so a retried or replayed batch can skip what the service already holds.
    """
    feedback = d.get("kind") == "feedback"
    rating = None
    if feedback and d.get("type") == "rating":
        raw = (d.get("data") or {}).get("rating")
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            rating = raw
    targets = (
        list(dict.fromkeys([d["interaction_id"], *(d.get("target_ids") or ())])) if feedback else []
    )
    return {
        "id": d["id"],
        "type": d.get("kind"),
        "interaction_id": d["interaction_id"] if feedback else d["id"],
        "feedback_type": d.get("type") if feedback else None,
        "target_ids": targets,
        "rating": rating,
        "timestamp": d["timestamp"],
        "user_id": d.get("user_id"),
        "session_id": d.get("session_id"),
        "model": None if feedback else d.get("model"),
        "source": d.get("source") if feedback else None,
        "schema_version": d.get("schema_version"),
        "idempotency_key": idempotency_key(text),
        "written_us": written_us,
        "record": d,
    }


def idempotency_key(text: str) -> str:
    """The key of a record's JSON (the same record always encodes to the same text)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def record_from_row(row: Mapping[str, Any]) -> Interaction | Feedback:
    """Parse a row returned by a query (flat, or wrapped in ``row_data``)."""
    data = row.get("row_data")
    if isinstance(data, Mapping):
        row = data
    payload = row["record"]
    return record_from_dict(json.loads(payload) if isinstance(payload, str) else payload)


def interaction_query(flt: InteractionFilter | None) -> dict[str, Any]:
    """The interactions ``flt`` selects, as ZeroDB's MongoDB-style filter (each field's
    meaning is in ``rlhf_otel.records.INTERACTION_FILTER_FIELDS``); ``limit``/``offset``
    are applied by paging."""
    base = {"type": "interaction"}
    return base if flt is None else merge_mongo(flt.conditions(), base)


def feedback_query(flt: FeedbackFilter | None) -> dict[str, Any]:
    """The feedback ``flt`` selects, as ZeroDB's MongoDB-style filter (each field's meaning
    is in ``rlhf_otel.records.FEEDBACK_FILTER_FIELDS``); ``limit``/``offset`` are applied
    by paging."""
    base = {"type": "feedback"}
    return base if flt is None else merge_mongo(flt.conditions(), base)
