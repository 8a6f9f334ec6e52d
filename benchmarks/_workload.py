"""Production-shaped logger calls for the benchmarks.

The realistic generator's records (``RealisticRecords``: 2-4 models answer each prompt, a
tenth with conversation context, log-normal text sizes with a long tail, 1,000 users and
25 reviewers, bursts of 1-6 raters on the same answers, all five feedback types on four
rating scales) turned into the public logger calls that would have written them: one
interaction, then one feedback on an interaction logged earlier, and so on.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rlhf_otel import RLHFLogger
from rlhf_otel.stores.jsonl._synth_real import RealisticRecords

__all__ = ["Call", "logger_calls", "replay"]


@dataclass(frozen=True)
class Call:
    """One logger call: an interaction (``targets`` empty) or a feedback on ``targets``
    (indexes of interactions logged earlier; the preferred one first for comparisons)."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    targets: tuple[int, ...] = ()


def logger_calls(records: int, *, seed: int = 7, users: int = 1000) -> list[Call]:
    """``records`` calls, half interactions and half feedback, interleaved."""
    rng = random.Random(seed)
    real = RealisticRecords(rng, users)
    index: dict[str, int] = {}
    calls: list[Call] = []
    for k in range(records // 2):
        rid = f"{k:032x}-{k:016x}"
        index[rid] = len(index)
        calls.append(_interaction(real.interaction(rid, "")))
        calls.append(_feedback(real.feedback(f"fb-{k}", ""), index))
    return calls


def _interaction(d: dict[str, Any]) -> Call:
    usage = d["token_usage"]
    return Call(
        "log_interaction",
        (d["prompt"], d["response"]),
        {
            "model": d["model"],
            "provider": d["provider"],
            "model_params": d["model_params"],
            "latency": d["latency_ms"],
            "token_usage": {"prompt": usage["prompt"], "completion": usage["completion"]},
            "user_id": d["user_id"],
            "session_id": d["session_id"],
            "context": d["context"] or None,
            "metadata": d["metadata"] or None,
            "response_id": d["response_id"],
            "finish_reasons": d["finish_reasons"],
        },
    )


def _feedback(d: dict[str, Any], index: dict[str, int]) -> Call:
    who = {"user_id": d["user_id"], "session_id": d["session_id"], "source": d["source"]}
    data, target = d["data"], index[d["interaction_id"]]
    kind = d["type"]
    if kind == "binary":
        return Call("log_binary_feedback", (data["value"],), who, (target,))
    if kind == "rating":
        scale = {"min_rating": data["min_rating"], "max_rating": data["max_rating"]}
        return Call("log_rating", (data["rating"], data["comment"]), who | scale, (target,))
    if kind == "text":
        return Call("log_text_feedback", (data["comment"], data["sentiment"]), who, (target,))
    if kind == "multi_dimensional":
        dims, weights = data["dimensions"], data["weights"]
        if weights is not None:  # the logger wants a weight for each dimension scored
            weights = {k: weights.get(k, 1.0) for k in dims}
        extra = {"weights": weights, "overall_comment": data["overall_comment"]}
        return Call("log_multi_dimensional_feedback", (dims,), who | extra, (target,))
    compared = tuple(index[i] for i in data["compared_response_ids"])
    extra = {"reason": data["reason"], "confidence_level": data["confidence_level"]}
    preferred = index[data["preferred_response_id"]]
    return Call("log_comparative_feedback", (), who | extra, (preferred, *compared))


def replay(logger: RLHFLogger, calls: Sequence[Call]) -> list[str]:
    """Make every call on ``logger`` (feedback names the ids its targets were logged
    under); returns the interaction ids in order."""
    ids: list[str] = []
    methods: dict[str, Callable[..., str]] = {}
    for call in calls:
        fn = methods.get(call.method)
        if fn is None:
            fn = methods[call.method] = getattr(logger, call.method)
        targets = call.targets
        if not targets:
            ids.append(fn(*call.args, **call.kwargs))
        elif len(targets) == 1 and call.method != "log_comparative_feedback":
            fn(ids[targets[0]], *call.args, **call.kwargs)
        else:
            fn(ids[targets[0]], [ids[t] for t in targets[1:]], **call.kwargs)
    return ids
