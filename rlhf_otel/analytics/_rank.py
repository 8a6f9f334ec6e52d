"""Model rankings from pairwise preferences: win rates, Bradley-Terry with intervals, Elo."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["Game", "ModelRanking", "RankingResult", "bradley_terry", "elo_ratings", "rank_models"]

ELO_SCALE: Final = 400.0 / math.log(10.0)
ELO_BASE: Final = 1000.0
Z95: Final = 1.959963984540054


@dataclass(frozen=True, slots=True)
class ModelRanking:
    """One model's standing; scores are on the Elo scale (1000 = average, +400 = 10:1 odds).

    ``score`` is the Bradley-Terry estimate, ``ci_low``/``ci_high`` its 95% interval (Wald,
    from the observed information); ``elo`` is the sequential Elo rating (K=16) in the
    order the comparisons were made. A tie counts half a win for each side in ``score``,
    ``elo`` (a draw) and ``win_rate``; ``comparisons`` = ``wins + losses + ties``.
    """

    model: str
    rank: int
    wins: int
    losses: int
    comparisons: int
    win_rate: float
    score: float
    ci_low: float
    ci_high: float
    elo: float
    ties: int = 0


@dataclass(frozen=True, slots=True)
class RankingResult:
    """All models, best first, with the head-to-head win counts (ties left out) behind them."""

    models: Sequence[ModelRanking]
    head_to_head: Mapping[str, Mapping[str, int]]
    comparisons: int
    skipped: Mapping[str, int]

    @property
    def winner(self) -> str | None:
        """The best model (the guide's ``getWinningModel``), or ``None`` without data."""
        return self.models[0].model if self.models else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "winner": self.winner,
            "comparisons": self.comparisons,
            "skipped": dict(self.skipped),
            "models": [{k: getattr(m, k) for k in ModelRanking.__slots__} for m in self.models],
            "head_to_head": {a: dict(b) for a, b in self.head_to_head.items()},
        }


def _solve(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Gauss-Jordan with partial pivoting (the system is small: one row per model)."""
    n = len(rhs)
    a = [row[:] + [rhs[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[piv] = a[piv], a[col]
        p = a[col][col]
        for j in range(col, n + 1):
            a[col][j] /= p
        for r in range(n):
            if r != col and a[r][col] != 0.0:
                f = a[r][col]
                for j in range(col, n + 1):
                    a[r][j] -= f * a[col][j]
    return [a[i][n] for i in range(n)]


def _centred_variances(matrix: list[list[float]]) -> list[float]:
    """Diagonal of C H^-1 C^T, C the centring map: the variances of the centred scores."""
    n = len(matrix)
    cols = [_solve(matrix, [1.0 if j == i else 0.0 for j in range(n)]) for i in range(n)]
    inv = [[cols[j][i] for j in range(n)] for i in range(n)]
    row_means = [sum(r) / n for r in inv]
    grand = sum(row_means) / n
    return [inv[i][i] - 2.0 * row_means[i] + grand for i in range(n)]


def bradley_terry(
    wins: Mapping[tuple[str, str], float], models: Sequence[str], *, prior: float = 0.05
) -> tuple[list[float], list[float]]:
    """Log-strengths (centred on 0) and their standard errors from ``wins[(a, b)]``.

    Maximum a posteriori under a weak Gaussian prior of precision ``prior`` on each
    log-strength, so a model that never lost still gets a finite score (with a wide
    interval). Solved by Newton's method.
    """
    k = len(models)
    idx = {m: i for i, m in enumerate(models)}
    w = [[0.0] * k for _ in range(k)]
    for (a, b), n in wins.items():
        w[idx[a]][idx[b]] += n
    theta = [0.0] * k
    hess: list[list[float]] = [[0.0] * k for _ in range(k)]
    for _ in range(100):
        grad = [0.0] * k
        hess = [[0.0] * k for _ in range(k)]
        for i in range(k):
            grad[i] = -prior * theta[i]
            hess[i][i] = prior
            for j in range(k):
                n_ij = w[i][j] + w[j][i]
                if i == j or n_ij == 0:
                    continue
                p = 1.0 / (1.0 + math.exp(theta[j] - theta[i]))
                grad[i] += w[i][j] - n_ij * p
                hess[i][i] += n_ij * p * (1.0 - p)
                hess[i][j] -= n_ij * p * (1.0 - p)
        step = _solve(hess, grad)
        theta = [t + s for t, s in zip(theta, step, strict=True)]
        if max((abs(s) for s in step), default=0.0) < 1e-10:
            break
    mean = sum(theta) / k if k else 0.0
    theta = [t - mean for t in theta]
    se = [math.sqrt(max(v, 0.0)) for v in _centred_variances(hess)] if k else []
    return theta, se


Game = tuple[str, str] | tuple[str, str, float]
"""``(winner, loser)``, or ``(a, b, score of a)`` with score 1.0 (a won) or 0.5 (a tie)."""


def _score(game: Game) -> float:
    return game[2] if len(game) == 3 else 1.0


def elo_ratings(
    games: Iterable[Game], *, k_factor: float = 16.0, start: float = ELO_BASE
) -> dict[str, float]:
    """Sequential Elo ratings from (winner, loser) games in order (a 0.5 score is a draw)."""
    ratings: dict[str, float] = {}
    for game in games:
        a, b, score = game[0], game[1], _score(game)
        ra, rb = ratings.get(a, start), ratings.get(b, start)
        expected = 1.0 / (1.0 + 10 ** ((rb - ra) / 400.0))
        ratings[a] = ra + k_factor * (score - expected)
        ratings[b] = rb - k_factor * (score - expected)
    return ratings


def rank_models(games: Sequence[Game], skipped: Mapping[str, int]) -> RankingResult:
    """Rank the models appearing in the games; a tie is half a win for each side."""
    wins: Counter[tuple[str, str]] = Counter()
    weights: dict[tuple[str, str], float] = {}
    won: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    tied: Counter[str] = Counter()
    for game in games:
        a, b = game[0], game[1]
        if _score(game) == 0.5:
            tied[a] += 1
            tied[b] += 1
            weights[(a, b)] = weights.get((a, b), 0.0) + 0.5
            weights[(b, a)] = weights.get((b, a), 0.0) + 0.5
        else:
            wins[(a, b)] += 1
            won[a] += 1
            lost[b] += 1
            weights[(a, b)] = weights.get((a, b), 0.0) + 1.0
    models = sorted(set(won) | set(lost) | set(tied))
    theta, se = bradley_terry(weights, models)
    elo = elo_ratings(games)
    rows = []
    for m, t, s in zip(models, theta, se, strict=True):
        n = won[m] + lost[m] + tied[m]
        rows.append((m, t, s, n))
    rows.sort(key=lambda r: (-r[1], r[0]))
    ranked = [
        ModelRanking(
            model=m,
            rank=i + 1,
            wins=won[m],
            losses=lost[m],
            comparisons=n,
            win_rate=(won[m] + 0.5 * tied[m]) / n if n else 0.0,
            score=ELO_BASE + ELO_SCALE * t,
            ci_low=ELO_BASE + ELO_SCALE * (t - Z95 * s),
            ci_high=ELO_BASE + ELO_SCALE * (t + Z95 * s),
            elo=elo.get(m, ELO_BASE),
            ties=tied[m],
        )
        for i, (m, t, s, n) in enumerate(rows)
    ]
    h2h: dict[str, dict[str, int]] = {m: {} for m in models}
    for (a, b), n in sorted(wins.items()):
        h2h[a][b] = n
    return RankingResult(ranked, h2h, len(games), dict(skipped))
