"""Records and file helpers shared by the JSONL store tests (and their child processes)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rlhf_otel.records import Feedback, FeedbackType, Interaction, TokenUsage

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def interaction(n: int, prefix: str = "i", *, user: str | None = None) -> Interaction:
    """Interaction ``<prefix><n>`` at ``T0 + n s`` with every field filled."""
    return Interaction(
        id=f"{prefix}{n}",
        prompt=f"prompt {n} ünïcödé",
        response=f"response {n} " + "x" * (n % 50),
        timestamp=T0 + timedelta(seconds=n),
        model="gpt-4o" if n % 2 else "gpt-4o-mini",
        provider="openai",
        model_params={"temperature": 0.5},
        latency_ms=12.5,
        token_usage=TokenUsage(3, 4, 7),
        user_id=user if user is not None else f"user-{n % 3}",
        session_id=f"s-{n % 5}",
        context=({"role": "system", "content": "be nice"},),
        metadata={"n": n},
        response_id=f"resp-{n}",
        finish_reasons=("stop",),
        trace_id=None,
        span_id=None,
    )


def feedback(n: int, target: str, prefix: str = "f", *, user: str | None = None) -> Feedback:
    """Feedback ``<prefix><n>`` on ``target``; the type cycles through all five."""
    kind = n % 5
    targets: tuple[str, ...] = (target,)
    if kind == 0:
        ftype, data = FeedbackType.BINARY, {"value": "thumbs_up" if n % 2 else "thumbs_down"}
    elif kind == 1:
        ftype = FeedbackType.RATING
        data = {"rating": n % 5 + 1, "min_rating": 1, "max_rating": 5, "comment": 'ok "q"'}
    elif kind == 2:
        ftype, data = FeedbackType.TEXT, {"comment": f"naïve \\ text {n}", "sentiment": None}
    elif kind == 3:
        ftype = FeedbackType.MULTI_DIMENSIONAL
        data = {"dimensions": {"a": n % 5, "b": 2}, "weights": {"a": 2, "b": 1}}
    else:
        ftype = FeedbackType.COMPARATIVE
        targets = (target, f"{target}-other")
        data = {
            "preferred_response_id": target,
            "compared_response_ids": [f"{target}-other"],
            "reason": None,
            "confidence_level": 0.75,
        }
    return Feedback(
        id=f"{prefix}{n}",
        interaction_id=target,
        type=ftype,
        data=data,
        timestamp=T0 + timedelta(seconds=n, milliseconds=500),
        user_id=user if user is not None else f"user-{n % 3}",
        session_id=f"s-{n % 5}",
        source="web",
        metadata={},
        target_ids=targets,
    )


def raw_lines(data_dir: str | os.PathLike[str]) -> dict[str, list[bytes]]:
    """file name -> raw lines (split on ``\\n``; a torn tail is the last, non-empty item)."""
    import gzip

    out = {}
    for p in sorted(Path(data_dir).iterdir()):
        if p.name.endswith(".jsonl"):
            out[p.name] = p.read_bytes().split(b"\n")
        elif p.name.endswith(".jsonl.gz"):
            out[p.name] = gzip.decompress(p.read_bytes()).split(b"\n")
    return out


def ids_in_files(data_dir: str | os.PathLike[str]) -> list[str]:
    """Every record id in every segment file, read without the store."""
    ids = []
    for lines in raw_lines(data_dir).values():
        for line in lines[:-1]:
            ids.append(json.loads(line)["id"])
    return ids
