"""Production-like synthetic records: many raters on the same answers, models side by side."""

from __future__ import annotations

import math
import random
from array import array
from typing import Any, Final

from rlhf_otel.records import SCHEMA_VERSION

__all__ = ["RealisticRecords"]

_MODELS: Final = ("gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b", "mistral-large")
_WORDS: Final = (
    "the", "model", "answer", "code", "python", "error", "slow", "wrong", "helpful", "clear",
    "table", "query", "cache", "retry", "token", "latency", "format", "json", "list", "great",
    "confusing", "verbose", "missing", "context", "example", "docs", "install", "version",
)  # fmt: skip
_COMPLAINTS: Final = (
    "too slow",
    "wrong answer",
    "not helpful",
    "missing context",
    "too verbose",
    "hallucinated api",
    "broken code",
    "ignored the question",
)
_SCALES: Final = ((1, 5), (1, 10), (0, 100), (1, 7))
_DIMS: Final = ("accuracy", "helpfulness", "safety", "style")
_REVIEWERS: Final = 25


class RealisticRecords:
    """Record dicts with the shape of a real product's store.

    Interactions come in prompt groups: 2-4 models answer the same prompt (a tenth of the
    groups carry conversation context, a few answers are byte-identical). Text sizes are
    log-normal with a long tail. Feedback comes in bursts on one answer or group: 1-6 of
    ``users`` raters (plus 25 reviewers, source ``review``) give the same type on the same
    answer; all five types; ratings on 1-5, 1-10, 0-100 and 1-7 scales; comparisons mostly
    between answers to the same prompt; ties and anonymous feedback included.
    """

    def __init__(self, rng: random.Random, users: int) -> None:
        self.rng = rng
        self.users = users
        self.ids: list[str] = []
        self.group_start = array("q")
        self._group_left = 0
        self._prompt = ""
        self._context: list[dict[str, str]] = []
        self._last_response = ""
        self._burst: list[dict[str, Any]] = []

    def _words(self, median: float, sigma: float = 0.9, cap: int = 4000) -> str:
        rng = self.rng
        n = max(1, min(cap, int(rng.lognormvariate(math.log(median), sigma))))
        return " ".join(rng.choice(_WORDS) for _ in range(min(n, 64))) + (
            " lorem" * (n - 64) if n > 64 else ""
        )

    def interaction(self, rid: str, ts: str) -> dict[str, Any]:
        """The next interaction (ids are remembered for the feedback)."""
        rng = self.rng
        if self._group_left == 0:
            self._group_left = rng.choice((2, 2, 3, 3, 4))
            self.group_start.append(len(self.ids))
            self._prompt = f"q{len(self.group_start)}: {self._words(18)}?"
            self._context = (
                [{"role": "system", "content": "You are terse."},
                 {"role": "user", "content": self._words(8)}]
                if rng.random() < 0.1 else []
            )  # fmt: skip
            models = list(_MODELS)
            rng.shuffle(models)
            self._models = models
            self._last_response = ""
        self._group_left -= 1
        model = self._models[self._group_left % len(self._models)]
        if self._last_response and rng.random() < 0.02:
            response = self._last_response
        else:
            response = self._words(36, 1.0)
        self._last_response = response
        self.ids.append(rid)
        p_tok, c_tok = rng.randint(5, 400), rng.randint(5, 1200)
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "interaction",
            "id": rid,
            "timestamp": ts,
            "prompt": self._prompt,
            "response": response,
            "model": model,
            "provider": "openai" if model.startswith("gpt") else "other",
            "model_params": {"temperature": rng.choice((0.0, 0.7, 1.0))},
            "latency_ms": round(rng.lognormvariate(6.5, 0.6), 3),
            "token_usage": {"prompt": p_tok, "completion": c_tok, "total": p_tok + c_tok},
            "user_id": f"user-{rng.randrange(self.users * 5)}" if rng.random() < 0.95 else None,
            "session_id": f"session-{rng.randrange(self.users * 20)}",
            "context": self._context,
            "metadata": {"app": "chat"} if rng.random() < 0.3 else {},
            "response_id": f"chatcmpl-{rng.getrandbits(48):012x}",
            "finish_reasons": ["stop"],
            "error_type": None,
            "time_to_first_token_ms": (
                round(rng.uniform(20, 400), 3) if rng.random() < 0.5 else None
            ),
            "trace_id": rid[:32],
            "span_id": rid[33:],
        }

    def feedback(self, rid: str, ts: str) -> dict[str, Any]:
        """The next feedback record."""
        if not self._burst:
            self._new_burst()
        d = self._burst.pop()
        d["id"] = rid
        d["timestamp"] = ts
        return d

    def _rater(self) -> tuple[str | None, str]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.1:
            return f"reviewer-{rng.randrange(_REVIEWERS)}", "review"
        if roll < 0.13:
            return None, "widget"
        # a few heavy raters, a long tail of occasional ones
        if rng.random() < 0.3:
            n = min(int(rng.paretovariate(1.2)) - 1, self.users - 1)
        else:
            n = rng.randrange(self.users)
        return f"rater-{n}", "web"

    def _new_burst(self) -> None:
        rng = self.rng
        n_groups = len(self.group_start)
        g = rng.randrange(n_groups)
        lo = self.group_start[g]
        hi = self.group_start[g + 1] if g + 1 < n_groups else len(self.ids)
        members = self.ids[lo:hi]
        roll = rng.random()
        raters = rng.choice((1, 1, 2, 2, 3, 3, 4, 5, 6))
        quality = rng.random()
        records: list[dict[str, Any]] = []
        if roll < 0.35:
            for target in members:
                q = min(1.0, max(0.0, quality + rng.uniform(-0.3, 0.3)))
                for _ in range(raters):
                    up = rng.random() < q
                    records.append(
                        self._fb(target, "binary", {"value": "thumbs_up" if up else "thumbs_down"})
                    )
        elif roll < 0.65:
            lo_s, hi_s = rng.choice(_SCALES)
            for target in members:
                q = min(1.0, max(0.0, quality + rng.uniform(-0.3, 0.3)))
                for _ in range(raters):
                    noisy = min(1.0, max(0.0, q + rng.gauss(0, 0.15)))
                    rating = lo_s + round(noisy * (hi_s - lo_s))
                    low = (rating - lo_s) / (hi_s - lo_s) <= 0.25
                    comment = None
                    if low and rng.random() < 0.6:
                        comment = rng.choice(_COMPLAINTS) + " " + self._words(6)
                    records.append(self._fb(target, "rating", {
                        "rating": rating, "min_rating": lo_s, "max_rating": hi_s,
                        "comment": comment}))  # fmt: skip
        elif roll < 0.78:
            target = rng.choice(members)
            for _ in range(raters):
                sentiment = rng.choice(("positive", "negative", "negative", "neutral", None))
                text = (rng.choice(_COMPLAINTS) + ", " if sentiment != "positive" else "") + (
                    self._words(12, 1.2)
                )
                records.append(self._fb(target, "text", {"comment": text, "sentiment": sentiment}))
        elif roll < 0.90:
            weights = {"accuracy": 2.0, "helpfulness": 1.0} if rng.random() < 0.5 else None
            for target in members:
                for _ in range(raters):
                    dims = {k: rng.randint(1, 5) for k in _DIMS[: rng.choice((2, 3, 4))]}
                    comment = self._words(5) if rng.random() < 0.2 else None
                    data = {"dimensions": dims, "weights": weights, "overall_comment": comment}
                    records.append(self._fb(target, "multi_dimensional", data))
        else:
            if len(members) < 2 or rng.random() < 0.1:
                members = [members[0], rng.choice(self.ids)]
            for _ in range(raters):
                pref, *others = rng.sample(members, len(members))
                others = [o for o in others if o != pref] or [pref]
                reason = "more precise" if rng.random() < 0.3 else None
                payload: dict[str, Any] = {
                    "preferred_response_id": pref,
                    "compared_response_ids": others,
                    "reason": reason,
                    "confidence_level": rng.choice((None, 0.5, 0.8, 1.0)),
                }
                records.append(self._fb(pref, "comparative", payload, [pref, *others]))
        records.reverse()
        self._burst = records

    def _fb(
        self, target: str, ftype: str, data: dict[str, Any], targets: list[str] | None = None
    ) -> dict[str, Any]:
        user, source = self._rater()
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "feedback",
            "id": "",
            "interaction_id": target,
            "type": ftype,
            "data": data,
            "timestamp": "",
            "user_id": user,
            "session_id": f"session-{self.rng.randrange(self.users * 20)}",
            "source": source,
            "metadata": {},
            "target_ids": targets or [target],
            "trace_id": None,
            "span_id": None,
        }
