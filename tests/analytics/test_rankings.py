"""Model rankings from comparative feedback: win rates and Bradley-Terry."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest

from rlhf_otel.analytics import get_analytics
from rlhf_otel.analytics._rank import ELO_BASE, ELO_SCALE, rank_models
from rlhf_otel.stores import MemoryStore
from tests.feedback_data import T0, compare, interaction

TRUE = {"m-strong": 1.2, "m-good": 0.6, "m-mid": 0.0, "m-weak": -0.5, "m-poor": -1.3}


def _simulate(n: int, seed: int) -> tuple[MemoryStore, list[tuple[str, str]]]:
    """Each round two models answer one prompt; a user prefers one with BT probability."""
    rng = random.Random(seed)
    store = MemoryStore(max_entries=None)
    its, fbs, games = [], [], []
    models = list(TRUE)
    for k in range(n):
        a, b = rng.sample(models, 2)
        ts = T0 + timedelta(seconds=k)
        ia, ib = f"{k}-{a}", f"{k}-{b}"
        its += [
            interaction(ia, f"p{k}", "x", ts, model=a),
            interaction(ib, f"p{k}", "y", ts, model=b),
        ]
        p_a = 1 / (1 + math.exp(TRUE[b] - TRUE[a]))
        win, lose = (ia, ib) if rng.random() < p_a else (ib, ia)
        fbs.append(compare(f"c{k}", win, [lose], ts))
        games.append((win.split("-", 1)[1], lose.split("-", 1)[1]))
    store.write(its, fbs)
    return store, games


def _mm_bradley_terry(games: list[tuple[str, str]], models: list[str]) -> dict[str, float]:
    """Hunter's (2004) MM iteration for the plain maximum-likelihood BT, centred logs."""
    k = len(models)
    pos = {m: i for i, m in enumerate(models)}
    w = np.zeros((k, k))
    for a, b in games:
        w[pos[a], pos[b]] += 1
    n = w + w.T
    p = np.ones(k)
    for _ in range(2000):
        denom = (n / (p[:, None] + p[None, :])).sum(axis=1)
        p = w.sum(axis=1) / denom
        p /= np.exp(np.log(p).mean())
    logs = np.log(p)
    return {m: float(logs[pos[m]]) for m in models}


def test_bradley_terry_recovers_true_order() -> None:
    """Simulated preferences from known strengths rank the models in the true order."""
    store, _ = _simulate(4000, seed=3)
    rankings = get_analytics(store).rankings
    assert [m.model for m in rankings.models] == list(TRUE)
    assert rankings.winner == "m-strong"
    assert [m.rank for m in rankings.models] == [1, 2, 3, 4, 5]


def test_true_strengths_fall_inside_intervals() -> None:
    """The centred true strengths lie within the 95% intervals (on the Elo scale)."""
    store, _ = _simulate(4000, seed=11)
    mean = sum(TRUE.values()) / len(TRUE)
    inside = 0
    for m in get_analytics(store).rankings.models:
        truth = ELO_BASE + ELO_SCALE * (TRUE[m.model] - mean)
        assert m.ci_low < m.score < m.ci_high
        inside += m.ci_low <= truth <= m.ci_high
    assert inside >= 4


def test_scores_match_independent_mm_estimate() -> None:
    """The Newton MAP estimate agrees with an independent MM maximum-likelihood fit."""
    store, games = _simulate(3000, seed=5)
    mm = _mm_bradley_terry(games, sorted(TRUE))
    for m in get_analytics(store).rankings.models:
        assert (m.score - ELO_BASE) / ELO_SCALE == pytest.approx(mm[m.model], abs=0.02)


def test_win_rates_and_head_to_head_match_counts() -> None:
    """Wins, losses, win rates and the head-to-head table equal plain counts."""
    store, games = _simulate(500, seed=2)
    rankings = get_analytics(store).rankings
    won = Counter(w for w, _ in games)
    lost = Counter(lo for _, lo in games)
    pairs = Counter(games)
    assert rankings.comparisons == 500
    for m in rankings.models:
        assert (m.wins, m.losses) == (won[m.model], lost[m.model])
        assert m.win_rate == won[m.model] / (won[m.model] + lost[m.model])
        for other, n in rankings.head_to_head[m.model].items():
            assert pairs[(m.model, other)] == n


def test_undefeated_model_gets_finite_score_and_wide_interval() -> None:
    """A model that never lost is ranked first with a finite score and a wide interval."""
    result = rank_models([("a", "b")] * 5 + [("b", "c")] * 3 + [("c", "b")] * 3, {})
    first = result.models[0]
    assert first.model == "a"
    assert math.isfinite(first.score)
    assert first.ci_high - first.ci_low > 300


def test_multi_way_comparison_counts_one_game_per_other_and_skips_same_model() -> None:
    """Preferring one of three responses makes two games; same-model pairs are counted apart."""
    store = MemoryStore(max_entries=None)
    its = [
        interaction("a", "q", "1", T0, model="m1"), interaction("b", "q", "2", T0, model="m2"),
        interaction("c", "q", "3", T0, model="m3"), interaction("d", "q", "4", T0, model="m1"),
        interaction("e", "q", "5", T0),
    ]  # fmt: skip
    fbs = [compare("f1", "a", ["b", "c"], T0), compare("f2", "a", ["d", "e", "gone"], T0)]
    store.write(its, fbs)
    rankings = get_analytics(store).rankings
    assert rankings.comparisons == 2
    assert {m.model: (m.wins, m.losses) for m in rankings.models} == {
        "m1": (2, 0), "m2": (0, 1), "m3": (0, 1),
    }  # fmt: skip
    assert rankings.skipped == {
        "comparison_same_model": 1,
        "comparison_model_unknown": 1,
        "comparison_interaction_not_found": 1,
    }
