"""Small numeric and text helpers for analytics: percentiles and top issues."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["Issue", "IssueCounter", "Percentiles", "percentile", "percentiles"]

_WORD: Final = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_STOP_WORDS: Final = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me most my myself nor now of off on once only or other our ours
    out over own same she should so some such than that the their theirs them then there these
    they this those through to under until up very was we were what when where which while
    who whom why will with would you your yours also really much response answer it's i'm don't
    didn't doesn't isn't wasn't"""
_STOP: Final = frozenset(_STOP_WORDS.split())
# Meaningful only as the first word of a phrase ("too slow", "not helpful").
_MODIFIERS: Final = frozenset({"too", "not", "no", "never", "more", "less"})


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Distribution summary; percentiles interpolate linearly (numpy's default method)."""

    count: int
    mean: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted values, linear interpolation."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("percentile of no values")
    pos = (n - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def percentiles(values: Iterable[float]) -> Percentiles | None:
    """Summary of ``values`` (``None`` when empty)."""
    xs = sorted(values)
    if not xs:
        return None
    return Percentiles(
        count=len(xs),
        mean=math.fsum(xs) / len(xs),
        min=xs[0],
        p50=percentile(xs, 50),
        p90=percentile(xs, 90),
        p95=percentile(xs, 95),
        p99=percentile(xs, 99),
        max=xs[-1],
    )


@dataclass(frozen=True, slots=True)
class Issue:
    """A term or two-word phrase recurring in negative (or neutral) comments.

    ``count`` is the number of comments containing it; ``feedback_ids`` names a few.
    """

    issue: str
    count: int
    sentiment: str
    feedback_ids: Sequence[str]


def _terms(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    terms: set[str] = set()
    prev: str | None = None
    for w in words:
        if w in _MODIFIERS:
            prev = w
            continue
        if w in _STOP or len(w) < 3 or w.isdigit():
            prev = None
            continue
        terms.add(w)
        if prev is not None:
            terms.add(f"{prev} {w}")
        prev = w
    return terms


class IssueCounter:
    """Counts terms over comments of each sentiment; keeps a few example ids per term."""

    def __init__(self, examples: int = 3) -> None:
        self._counts: dict[str, Counter[str]] = {}
        self._examples: dict[tuple[str, str], list[str]] = {}
        self._keep = examples

    def add(self, comment: str, sentiment: str, feedback_id: str) -> None:
        """Count the terms of one comment."""
        counts = self._counts.setdefault(sentiment, Counter())
        for term in _terms(comment):
            counts[term] += 1
            ex = self._examples.setdefault((sentiment, term), [])
            if len(ex) < self._keep:
                ex.append(feedback_id)

    def top(self, n: int) -> list[Issue]:
        """The ``n`` most frequent issues; a word is dropped when a phrase covers all of it."""
        issues: list[Issue] = []
        for sentiment, counts in self._counts.items():
            covered: dict[str, int] = {}
            for term, c in counts.items():
                if " " in term:
                    for word in term.split(" "):
                        covered[word] = max(covered.get(word, 0), c)
            for term, c in counts.items():
                if " " not in term and covered.get(term, 0) >= c:
                    continue
                ids = self._examples[(sentiment, term)]
                issues.append(Issue(term, c, sentiment, tuple(ids)))
        issues.sort(key=lambda i: (-i.count, i.sentiment != "negative", -len(i.issue), i.issue))
        return issues[:n]
