"""Inter-annotator agreement: Cohen's and Fleiss' kappa, Krippendorff's alpha.

Pure Python, no dependencies. Definitions follow Cohen (1960), Fleiss (1971, generalised
to a varying number of raters per item) and Krippendorff (2011, "Computing Krippendorff's
alpha-reliability"), whose worked examples the tests reproduce.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Literal

__all__ = [
    "AlphaMetric",
    "alpha_from_coincidences",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
]

AlphaMetric = Literal["nominal", "ordinal", "interval", "ratio"]
_Delta = Callable[[Hashable, Hashable], float]


def cohen_kappa(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    *,
    weights: Literal["linear", "quadratic"] | None = None,
) -> float | None:
    """Cohen's kappa of two raters' labels for the same items (``None`` when undefined).

    ``weights`` gives the weighted kappa for ordinal numeric labels (disagreement |i-j| or
    (i-j)^2 over the categories' rank positions).
    """
    if len(a) != len(b):
        raise ValueError(f"both raters must label the same items; got {len(a)} and {len(b)}")
    n = len(a)
    if n == 0:
        return None
    cats = sorted(set(a) | set(b), key=_sort_key)
    pos = {c: i for i, c in enumerate(cats)}
    k = len(cats)
    ca, cb = Counter(a), Counter(b)

    def w(i: int, j: int) -> float:
        if weights is None:
            return 0.0 if i == j else 1.0
        d = abs(i - j) / (k - 1) if k > 1 else 0.0
        return d if weights == "linear" else d * d

    observed = sum(w(pos[x], pos[y]) for x, y in zip(a, b, strict=True)) / n
    expected = sum(ca[x] * cb[y] * w(pos[x], pos[y]) for x in cats for y in cats) / (n * n)
    if expected == 0:
        return None
    return 1.0 - observed / expected


def fleiss_kappa(items: Iterable[Mapping[Hashable, int]]) -> float | None:
    """Fleiss' kappa from per-item category counts (items with fewer than 2 ratings ignored).

    With the same number of raters on every item this is Fleiss (1971); otherwise each item's
    agreement uses its own number of raters.
    """
    totals: Counter[Hashable] = Counter()
    agreement = 0.0
    n_items = 0
    n_ratings = 0
    for counts in items:
        m = sum(counts.values())
        if m < 2:
            continue
        n_items += 1
        n_ratings += m
        totals.update(counts)
        agreement += (sum(c * c for c in counts.values()) - m) / (m * (m - 1))
    if n_items == 0:
        return None
    p_bar = agreement / n_items
    p_e = sum((c / n_ratings) ** 2 for c in totals.values())
    if p_e >= 1.0:
        return None
    return (p_bar - p_e) / (1.0 - p_e)


def krippendorff_alpha(
    units: Iterable[Sequence[float | Hashable]], metric: AlphaMetric = "interval"
) -> float | None:
    """Krippendorff's alpha over units, each the values its coders gave (missing left out).

    Units with fewer than two values are not pairable and are ignored. ``None`` when there
    is no disagreement to expect (fewer than two distinct values overall).
    """
    coincidence: dict[tuple[Hashable, Hashable], float] = {}
    for values in units:
        m = len(values)
        if m < 2:
            continue
        counts = Counter(values)
        for c, nc in counts.items():
            for k, nk in counts.items():
                pairs = nc * (nc - 1) if c == k else nc * nk
                if pairs:
                    coincidence[(c, k)] = coincidence.get((c, k), 0.0) + pairs / (m - 1)
    return alpha_from_coincidences(coincidence, metric)


def alpha_from_coincidences(
    coincidence: Mapping[tuple[Hashable, Hashable], float], metric: AlphaMetric = "interval"
) -> float | None:
    """Krippendorff's alpha from the coincidence matrix ``o[(c, k)]`` of pairable values."""
    n_c: dict[Hashable, float] = {}
    for (c, _), v in coincidence.items():
        n_c[c] = n_c.get(c, 0.0) + v
    n = sum(n_c.values())
    if n <= 1 or len(n_c) < 2:
        return None
    delta = _delta(metric, n_c)
    observed = sum(v * delta(c, k) for (c, k), v in coincidence.items()) / n
    expected = sum(n_c[c] * n_c[k] * delta(c, k) for c, k in itertools.product(n_c, n_c)) / (
        n * (n - 1)
    )
    if expected == 0:
        return None
    return 1.0 - observed / expected


def _delta(metric: AlphaMetric, n_c: Mapping[Hashable, float]) -> _Delta:
    if metric == "nominal":
        return lambda c, k: 0.0 if c == k else 1.0
    if metric == "interval":
        return lambda c, k: (float(c) - float(k)) ** 2  # type: ignore[arg-type]
    if metric == "ratio":

        def ratio(c: Hashable, k: Hashable) -> float:
            x, y = float(c), float(k)  # type: ignore[arg-type]
            return 0.0 if x + y == 0 else ((x - y) / (x + y)) ** 2

        return ratio
    if metric == "ordinal":
        order = sorted(n_c, key=_sort_key)
        cumulative: dict[Hashable, float] = {}
        running = 0.0
        for v in order:
            cumulative[v] = running  # sum of n_g for g before v
            running += n_c[v]

        def ordinal(c: Hashable, k: Hashable) -> float:
            lo, hi = (c, k) if cumulative[c] <= cumulative[k] else (k, c)
            between = cumulative[hi] + n_c[hi] - cumulative[lo]
            return (between - (n_c[lo] + n_c[hi]) / 2.0) ** 2

        return ordinal
    raise ValueError(f"metric must be nominal, ordinal, interval or ratio; got {metric!r}")


def _sort_key(value: Hashable) -> tuple[int, float | str]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value))
    return (1, str(value))
