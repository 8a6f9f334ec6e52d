"""``rlhf-otel demo``: a simulated chat app on a deterministic fake model."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from rlhf_otel._decorator import trace_llm
from rlhf_otel._logger import RLHFLogger
from rlhf_otel.recording import last_interaction_id
from rlhf_otel.records import BinaryFeedback, FeedbackStats

__all__ = ["DEMO_QUEUE_FILE", "FakeModel", "format_stats", "run_demo", "write_demo_queue"]

DEMO_QUEUE_FILE = "review-queue.yaml"
"""The queue file ``rlhf-otel demo`` writes into its data directory."""
UNRATED_EVERY = 4
"""Every 4th simulated conversation gets no feedback, so a first review queue has items."""

_QUESTIONS = (
    "What is the capital of France?",
    "How do I reverse a list in Python?",
    "Explain photosynthesis in one sentence.",
    "What is 17 * 23?",
    "Suggest a name for a grey cat.",
    "How far is the Moon?",
    "Translate 'good morning' to Spanish.",
    "What causes rain?",
)
_STYLES = {
    "fake-small": ("Short answer: {a}", 0.55),
    "fake-large": ("Here is a careful answer.\n\n{a}\n\nLet me know if you need more detail.", 0.8),
}
_ANSWERS = (
    "Paris.",
    "Use slicing or **`reversed`**:\n\n"
    "```python\nxs = [1, 2, 3]\nprint(xs[::-1])  # [3, 2, 1]\n```\n",
    "Plants turn light, water and CO2 into sugar and oxygen.",
    "391.",
    "Ash.",
    "About 384,400 km on average.",
    "Buenos días.",
    "Water vapour condenses into droplets that fall.",
)


class FakeModel:
    """A deterministic stand-in for an LLM: same seed, same answers, latencies and usage."""

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.template, self.quality = _STYLES[name]
        self._rng = random.Random(f"{name}-{seed}")

    def complete(self, messages: Sequence[dict[str, str]]) -> dict[str, Any]:
        """An OpenAI-style chat completion dict for ``messages``."""
        question = messages[-1]["content"]
        answer = (
            _ANSWERS[_QUESTIONS.index(question)] if question in _QUESTIONS else "I am not sure."
        )
        text = self.template.format(a=answer)
        time.sleep(self._rng.uniform(0.0005, 0.002))
        prompt_tokens = sum(len(m["content"].split()) for m in messages) + 3
        return {
            "id": f"fake-{self._rng.getrandbits(48):012x}",
            "model": self.name,
            "choices": [
                {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split())},
        }


def run_demo(logger: RLHFLogger, *, conversations: int = 40, seed: int = 7) -> FeedbackStats:
    """Simulate ``conversations`` users chatting with two fake models and giving feedback of
    every type; return the stats read back from the logger's store."""
    rng = random.Random(seed)
    models = {name: FakeModel(name, seed) for name in _STYLES}

    @trace_llm(provider="fake", logger=logger)
    def chat(messages: list[dict[str, str]], model: str) -> dict[str, Any]:
        return models[model].complete(messages)

    for n in range(conversations):
        unrated = n % UNRATED_EVERY == UNRATED_EVERY - 1
        with logger.session(user_id=f"user-{n % 12}", metadata={"channel": "demo"}):
            question = rng.choice(_QUESTIONS)
            if unrated:
                # unrated conversations cycle through the questions: many distinct prompts
                question = _QUESTIONS[(n // UNRATED_EVERY) % len(_QUESTIONS)]
            messages = [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": question},
            ]
            replies = {}
            for name in models:
                chat(messages, model=name)
                replies[name] = last_interaction_id() or ""
            small, large = replies["fake-small"], replies["fake-large"]
            if unrated:
                continue
            quality = models["fake-large"].quality
            happy = rng.random() < quality
            logger.log_binary_feedback(
                large,
                BinaryFeedback.THUMBS_UP if happy else BinaryFeedback.THUMBS_DOWN,
                source="web",
            )
            logger.log_binary_feedback(
                small, rng.random() < models["fake-small"].quality, source="web"
            )
            logger.log_rating(large, rng.choice((3, 4, 4, 5, 5)), source="mobile")
            logger.log_rating(small, rng.choice((1, 2, 3, 3, 4)), source="mobile")
            if n % 3 == 0:
                logger.log_text_feedback(
                    small,
                    rng.choice(("Too terse.", "Correct but curt.", "Fine.")),
                    rng.choice(("negative", "neutral", "positive")),
                )
            if n % 4 == 0:
                logger.log_multi_dimensional_feedback(
                    large,
                    {
                        "accuracy": rng.randint(3, 5),
                        "helpfulness": rng.randint(3, 5),
                        "tone": rng.randint(2, 5),
                    },
                    weights={"accuracy": 0.5, "helpfulness": 0.3, "tone": 0.2},
                    overall_comment="Solid answer.",
                )
            _compare(logger, rng, large, small)
    logger.flush()
    return logger.get_feedback_stats()


def _compare(logger: RLHFLogger, rng: random.Random, large: str, small: str) -> None:
    preferred, other = (large, small) if rng.random() < 0.75 else (small, large)
    logger.log_comparative_feedback(
        preferred,
        [other],
        reason="more complete" if preferred == large else "more concise",
        confidence_level=round(rng.uniform(0.5, 1.0), 2),
    )


def format_stats(stats: FeedbackStats) -> str:
    """A human-readable summary of ``stats``."""
    lines = [
        f"interactions        {stats.total_interactions}",
        f"feedback            {stats.total_feedback}",
        f"feedback rate       {stats.feedback_rate:.1%} of interactions got feedback",
        "by type             " + ", ".join(f"{k}={v}" for k, v in sorted(stats.by_type.items())),
    ]
    if stats.binary:
        b = stats.binary
        lines.append(
            f"thumbs              {b.thumbs_up} up / {b.thumbs_down} down (ratio {b.ratio:.2f})"
        )
    if stats.rating:
        r = stats.rating
        dist = " ".join(f"{k:g}:{v}" for k, v in r.distribution.items())
        lines.append(
            f"ratings             avg {r.average:.2f}, median {r.median:g}, "
            f"normalised avg {r.average_normalized:.2f}  [{dist}]"
        )
    if stats.text:
        t = stats.text
        sent = ", ".join(f"{k}={v}" for k, v in t.sentiment_distribution.items())
        lines.append(
            f"text                {t.count} comments, avg {t.average_length:.1f} chars ({sent})"
        )
    if stats.multi_dimensional:
        m = stats.multi_dimensional
        dims = ", ".join(f"{k}={v:.2f}" for k, v in m.dimension_averages.items())
        lines.append(f"dimensions          {dims}")
    if stats.comparative:
        c = stats.comparative
        conf = "n/a" if c.average_confidence is None else f"{c.average_confidence:.2f}"
        lines.append(f"comparisons         {c.count} (mean confidence {conf})")
    return "\n".join(lines)


_QUEUE_YAML = """\
# A review queue written by `rlhf-otel demo`: the answers the simulated users did not rate,
# as blind A/B pairs of the two fake models. Serve it with:
#   rlhf-otel review --data-dir {data_dir} --queue {path}
# Format: docs/review.md. Edit the guidelines and the rubric guide for your own team.
name: demo-arena
guidelines: |
  Compare the two answers to the same prompt as the person who asked would.

  - Pick the **more helpful, correct** answer (keys `A` / `B`).
  - `T` when they are equally good, `X` when both are wrong or unhelpful.
  - Model names stay hidden until your vote is stored.
  - Skip (`S`) with a reason when you cannot judge the prompt.
selection:
  no_feedback: true
  pairs: true
  seed: 7
reviewers_per_item: 1
blind: true
rubric:
  types: [comparative, text]
  guide:
    comparative:
      description: Which answer would you rather get? Correctness first, then clarity, then length.
    text: Optional reason for your choice (C); it is kept with the vote.
"""


def write_demo_queue(data_dir: str) -> str:
    """Write the demo's ready review queue into ``data_dir`` (owner-only); its path."""
    import os

    path = os.path.join(data_dir, DEMO_QUEUE_FILE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(_QUEUE_YAML.format(data_dir=data_dir, path=path))
    return path
