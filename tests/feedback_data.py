"""Generated interactions and feedback whose right answers tests compute independently."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from rlhf_otel.records import Feedback, FeedbackType, Interaction, TokenUsage
from rlhf_otel.stores import MemoryStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # a Monday
MODELS = ("alpha", "beta", "gamma")
NEGATIVE_COMMENTS = (
    "Way too slow and the code was wrong",
    "too slow to be useful",
    "The code was wrong again",
    "missing citations, too slow",
)
NEUTRAL_COMMENTS = ("could use more examples", "more examples would help")
POSITIVE_COMMENTS = ("great answer", "very clear")


@dataclass
class Dataset:
    """Records plus the store holding them."""

    interactions: list[Interaction]
    feedback: list[Feedback]
    store: MemoryStore


def rating(fid: str, iid: str, value: float, ts: datetime, **kw: object) -> Feedback:
    """A 1..max rating feedback."""
    max_rating = kw.pop("max_rating", 5)
    comment = kw.pop("comment", None)
    return Feedback(
        id=fid, interaction_id=iid, type=FeedbackType.RATING, timestamp=ts,
        data={"rating": value, "min_rating": 1, "max_rating": max_rating, "comment": comment},
        target_ids=(iid,), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def thumbs(fid: str, iid: str, up: bool, ts: datetime, **kw: object) -> Feedback:
    """A binary feedback."""
    return Feedback(
        id=fid, interaction_id=iid, type=FeedbackType.BINARY, timestamp=ts,
        data={"value": "thumbs_up" if up else "thumbs_down"}, target_ids=(iid,),
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def text(
    fid: str, iid: str, comment: str, sentiment: str | None, ts: datetime, **kw: object
) -> Feedback:
    """A text feedback."""
    return Feedback(
        id=fid, interaction_id=iid, type=FeedbackType.TEXT, timestamp=ts,
        data={"comment": comment, "sentiment": sentiment}, target_ids=(iid,),
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def multi(fid: str, iid: str, dims: dict[str, float], ts: datetime,
          weights: dict[str, float] | None = None, **kw: object) -> Feedback:  # fmt: skip
    """A multi-dimensional feedback."""
    return Feedback(
        id=fid, interaction_id=iid, type=FeedbackType.MULTI_DIMENSIONAL, timestamp=ts,
        data={"dimensions": dims, "weights": weights, "overall_comment": None},
        target_ids=(iid,), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def compare(fid: str, preferred: str, others: list[str], ts: datetime,
            confidence: float | None = None, **kw: object) -> Feedback:  # fmt: skip
    """A comparative feedback."""
    return Feedback(
        id=fid, interaction_id=preferred, type=FeedbackType.COMPARATIVE, timestamp=ts,
        data={"preferred_response_id": preferred, "compared_response_ids": list(others),
              "reason": None, "confidence_level": confidence},
        target_ids=(preferred, *others), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def interaction(iid: str, prompt: str, response: str, ts: datetime, **kw: object) -> Interaction:
    """An interaction."""
    return Interaction(id=iid, prompt=prompt, response=response, timestamp=ts, **kw)  # type: ignore[arg-type]


def generate(seed: int = 7, n_prompts: int = 60) -> Dataset:
    """Every model answers every prompt; feedback of all five types, several raters each."""
    rng = random.Random(seed)
    quality = {"alpha": 0.8, "beta": 0.55, "gamma": 0.3}
    its: list[Interaction] = []
    fbs: list[Feedback] = []
    n = 0
    for p in range(n_prompts):
        ts = T0 + timedelta(hours=7 * p + rng.randint(0, 3), minutes=rng.randint(0, 59))
        context = ({"role": "system", "content": "be brief"},) if p % 5 == 0 else ()
        ids = []
        for m, model in enumerate(MODELS):
            iid = f"i{p:03d}{model[0]}"
            ids.append(iid)
            lat = rng.uniform(100, 3000) if rng.random() > 0.1 else None
            its.append(interaction(
                iid, f"prompt {p}", f"{model} answer to {p}", ts + timedelta(seconds=m),
                model=model, latency_ms=lat, user_id=f"u{p % 4}", session_id=f"s{p % 6}",
                token_usage=TokenUsage(rng.randint(5, 50), rng.randint(10, 400), None)
                if rng.random() > 0.2 else None, context=context,
            ))  # fmt: skip
        for iid, model in zip(ids, MODELS, strict=True):
            q = quality[model]
            fts = ts + timedelta(minutes=rng.randint(1, 300))
            src = rng.choice(["web", "mobile", "api", None])
            for rater in rng.sample(["u0", "u1", "u2", "u3"], rng.randint(1, 3)):
                n += 1
                up = rng.random() < q
                fbs.append(thumbs(f"f{n:05d}", iid, up, fts, user_id=rater, source=src,
                                  session_id=f"s{p % 6}"))  # fmt: skip
                n += 1
                r = max(1, min(5, round(1 + 4 * q + rng.gauss(0, 0.8))))
                comment = rng.choice(NEGATIVE_COMMENTS) if r <= 2 and rng.random() < 0.7 else None
                fbs.append(rating(f"f{n:05d}", iid, r, fts + timedelta(seconds=1),
                                  comment=comment, user_id=rater, source=src))  # fmt: skip
            if rng.random() < 0.5:
                n += 1
                dims = {"accuracy": rng.randint(1, 5), "clarity": rng.randint(1, 5)}
                w = {"accuracy": 0.7, "clarity": 0.3} if rng.random() < 0.5 else None
                fbs.append(multi(f"f{n:05d}", iid, dims, fts, w, user_id=f"u{rng.randint(0, 3)}"))
            if rng.random() < 0.4:
                n += 1
                roll = rng.random()
                if roll < 0.4:
                    c, s = rng.choice(NEGATIVE_COMMENTS), "negative"
                elif roll < 0.7:
                    c, s = rng.choice(NEUTRAL_COMMENTS), "neutral"
                else:
                    c, s = rng.choice(POSITIVE_COMMENTS), "positive"
                fbs.append(text(f"f{n:05d}", iid, c, s, fts, user_id=f"u{rng.randint(0, 3)}"))
        n += 1
        scores = {iid: quality[m] + rng.gauss(0, 0.3) for iid, m in zip(ids, MODELS, strict=True)}
        best = max(scores, key=scores.__getitem__)
        fbs.append(compare(f"f{n:05d}", best, [i for i in ids if i != best],
                           ts + timedelta(hours=1), round(rng.uniform(0.5, 1), 2)))  # fmt: skip
    store = MemoryStore(max_entries=None)
    store.write(its, fbs)
    return Dataset(its, fbs, store)
