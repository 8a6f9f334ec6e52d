"""Synthetic JSONL stores for tests and benchmarks, written straight in the record schema."""

from __future__ import annotations

import os
import random
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from rlhf_otel.records import SCHEMA_VERSION, format_timestamp
from rlhf_otel.stores.jsonl._format import PLAIN, dumps_line, stem_for
from rlhf_otel.stores.jsonl._fs import DataDir, write_all
from rlhf_otel.stores.jsonl._synth_real import RealisticRecords

__all__ = ["SyntheticStore", "write_synthetic_store"]

_MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b")
_WORDS = ("alpha", "beta", "gamma", "delta", "ok", "fine", "great", "meh", "no", "yes")


@dataclass(frozen=True, slots=True)
class SyntheticStore:
    """What :func:`write_synthetic_store` wrote."""

    interactions: int
    feedback: int
    interaction_ids: list[str] = field(repr=False)
    """A sample: the first, every 1000th and the last interaction id."""
    feedback_ids: list[str] = field(repr=False)
    """A sample: the first, every 1000th and the last feedback id."""
    by_type: dict[str, int]
    segments: int
    first_timestamp: datetime
    last_timestamp: datetime
    users: int


def write_synthetic_store(
    data_dir: str | os.PathLike[str],
    *,
    interactions: int,
    feedback: int,
    seed: int = 0,
    segment_mb: float = 100.0,
    start: datetime = datetime(2025, 1, 1, tzinfo=timezone.utc),
    step: timedelta = timedelta(seconds=1),
    users: int = 1000,
    realistic: bool = False,
) -> SyntheticStore:
    """Write ``interactions`` and ``feedback`` records as sealed segments of a JSONL store.

    Lines are exactly what the store writes (``rlhf_otel.records._schema`` dicts), generated
    without building record objects so that millions take seconds. Feedback is 40% binary,
    30% rating, 15% text, 10% multi-dimensional and 5% comparative, each on a random
    interaction; timestamps advance by ``step`` from ``start``. ``realistic=True`` writes
    what a real product stores instead: several models per prompt, several raters (of
    ``users``) and reviewers on the same answers, several rating scales, skewed text sizes
    (see ``RealisticRecords``).
    """
    rng = random.Random(seed)
    ddir = DataDir(data_dir)
    writer = secrets.token_hex(4)
    limit = int(segment_mb * 1024 * 1024)
    ids: list[str] = []
    sample_i: list[str] = []
    sample_f: list[str] = []
    by_type: Counter[str] = Counter()
    segments = 0
    seq = 0
    real = RealisticRecords(rng, users) if realistic else None
    try:
        for kind, count in (("interactions", interactions), ("feedback", feedback)):
            fd, size = -1, 0
            batch: list[bytes] = []
            for n in range(count):
                ts = format_timestamp(start + step * n)
                if kind == "interactions":
                    rid = f"{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}"
                    if real is not None:
                        line = dumps_line(real.interaction(rid, ts))
                    else:
                        ids.append(rid)
                        line = dumps_line(_interaction(rng, rid, ts, users))
                else:
                    rid = f"{rng.getrandbits(128):032x}"
                    if real is not None:
                        d = real.feedback(rid, ts)
                    else:
                        d = _feedback(rng, rid, ts, ids, users)
                    by_type[d["type"]] += 1
                    line = dumps_line(d)
                if n % 1000 == 0 or n == count - 1:
                    (sample_i if kind == "interactions" else sample_f).append(rid)
                if fd < 0 or size + len(line) > limit:
                    if fd >= 0:
                        write_all(fd, b"".join(batch))
                        batch.clear()
                        os.close(fd)
                    seq += 1
                    created = start + step * n
                    fd = ddir.create(stem_for(kind, created, writer, seq) + PLAIN)
                    size = 0
                    segments += 1
                batch.append(line)
                size += len(line)
                if len(batch) >= 4096:
                    write_all(fd, b"".join(batch))
                    batch.clear()
            if fd >= 0:
                write_all(fd, b"".join(batch))
                os.close(fd)
    finally:
        ddir.close()
    total = max(interactions, feedback)
    return SyntheticStore(
        interactions=interactions,
        feedback=feedback,
        interaction_ids=sample_i,
        feedback_ids=sample_f,
        by_type=dict(by_type),
        segments=segments,
        first_timestamp=start,
        last_timestamp=start + step * max(total - 1, 0),
        users=users,
    )


_POOL: dict[tuple[int, int], list[str]] = {}


def _text(rng: random.Random, lo: int, hi: int) -> str:
    pool = _POOL.get((lo, hi))
    if pool is None:
        r = random.Random(lo * 1000 + hi)
        pool = _POOL[(lo, hi)] = [
            " ".join(r.choice(_WORDS) for _ in range(r.randint(lo, hi))) for _ in range(509)
        ]
    return pool[rng.randrange(509)]


def _interaction(rng: random.Random, rid: str, ts: str, users: int) -> dict[str, Any]:
    prompt_tokens, completion_tokens = rng.randint(5, 200), rng.randint(5, 400)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "interaction",
        "id": rid,
        "timestamp": ts,
        "prompt": _text(rng, 5, 30),
        "response": _text(rng, 10, 60),
        "model": rng.choice(_MODELS),
        "provider": "openai",
        "model_params": {"temperature": 0.7, "max_tokens": 512},
        "latency_ms": round(rng.uniform(50, 3000), 3),
        "token_usage": {
            "prompt": prompt_tokens,
            "completion": completion_tokens,
            "total": prompt_tokens + completion_tokens,
        },
        "user_id": f"user-{rng.randrange(users)}",
        "session_id": f"session-{rng.randrange(users * 10)}",
        "context": [],
        "metadata": {},
        "response_id": f"chatcmpl-{rng.getrandbits(48):012x}",
        "finish_reasons": ["stop"],
        "error_type": None,
        "time_to_first_token_ms": None,
        "trace_id": rid[:32],
        "span_id": rid[33:],
    }


def _feedback(rng: random.Random, rid: str, ts: str, ids: list[str], users: int) -> dict[str, Any]:
    target = rng.choice(ids)
    roll = rng.random()
    targets = [target]
    data: dict[str, Any]
    if roll < 0.40:
        ftype, data = "binary", {"value": rng.choice(("thumbs_up", "thumbs_down"))}
    elif roll < 0.70:
        data = {"rating": rng.randint(1, 5), "min_rating": 1, "max_rating": 5, "comment": None}
        ftype = "rating"
    elif roll < 0.85:
        sentiment = rng.choice(("positive", "negative", "neutral", None))
        ftype, data = "text", {"comment": _text(rng, 1, 12), "sentiment": sentiment}
    elif roll < 0.95:
        dims = {"accuracy": rng.randint(1, 5), "helpfulness": rng.randint(1, 5)}
        ftype = "multi_dimensional"
        data = {"dimensions": dims, "weights": None, "overall_comment": None}
    else:
        other = rng.choice(ids)
        targets = [target, other] if other != target else [target]
        ftype = "comparative"
        data = {
            "preferred_response_id": target,
            "compared_response_ids": targets[1:],
            "reason": None,
            "confidence_level": round(rng.random(), 3),
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "feedback",
        "id": rid,
        "interaction_id": target,
        "type": ftype,
        "data": data,
        "timestamp": ts,
        "user_id": f"user-{rng.randrange(users)}",
        "session_id": None,
        "source": "web",
        "metadata": {},
        "target_ids": targets,
        "trace_id": None,
        "span_id": None,
        "supersedes": None,
    }
