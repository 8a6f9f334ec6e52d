"""Judge-vs-people agreement per rubric item, beside people-vs-people as the ceiling.

The statistics are those used between people (``rlhf_otel.analytics``: Cohen's kappa,
Krippendorff's alpha); this module only pairs a judge's verdicts with people's feedback on
the same items and adds bootstrap intervals, a confusion matrix and the bias figures.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from rlhf_otel.analytics import AgreementStats, cohen_kappa, krippendorff_alpha
from rlhf_otel.recording import evaluator_type
from rlhf_otel.records import Feedback, FeedbackFilter, FeedbackType, normalized_rating
from rlhf_otel.review._judged import pair_verdict
from rlhf_otel.review._summary import agreement_of
from rlhf_otel.stores import Store

__all__ = ["JudgeAgreement", "JudgeFigures", "judge_agreement", "judge_agreement_of"]

_log = logging.getLogger("rlhf_otel.review")
MODEL_SOURCE: Final = "model"
REFRESH_SECONDS: Final = 60.0
"""How old the review app's judge figures may get before a background refresh."""

RESAMPLES: Final = 500
_NUMERIC: Final = ("rating",)


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgeAgreement:
    """Agreement of one judge with people on one kind of judgement.

    ``kind``: ``binary``, ``rating`` (on 0..1 by each rating's own scale),
    ``dimension:<name>`` or ``comparative`` (``first`` or ``second`` of the pair's sorted
    ids won, or ``tie`` / ``both_bad``). ``items``
    were judged by both; ``pairs`` counts (judge verdict, one person's value) pairs, which
    Cohen's kappa compares; alpha treats the judge as one more coder of each item
    (interval metric for ratings and dimensions, nominal otherwise). ``*_ci`` are 95%
    bootstrap intervals over items. ``mean_difference`` is judge minus people on numeric
    kinds (positive: the judge is more lenient). ``confusion`` maps the judge's value to
    people's values and counts. ``human`` is people-vs-people agreement on this kind, the
    ceiling. Pairwise judges add ``pairs_judged`` (both orders) and ``inconsistent_pairs``
    (the verdict changed with the order; left out of the other figures).
    """

    judge: str
    kind: str
    items: int
    pairs: int
    percent_agreement: float | None
    cohen_kappa: float | None
    cohen_kappa_ci: tuple[float, float] | None
    krippendorff_alpha: float | None
    krippendorff_alpha_ci: tuple[float, float] | None
    mean_difference: float | None
    confusion: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    human: AgreementStats | None = None
    pairs_judged: int = 0
    inconsistent_pairs: int = 0

    @property
    def position_bias_rate(self) -> float | None:
        """Share of pairs whose verdict changed with the order."""
        return self.inconsistent_pairs / self.pairs_judged if self.pairs_judged else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        out = {k: v for k, v in asdict(self).items() if k != "human"}
        out["cohen_kappa_ci"] = list(self.cohen_kappa_ci) if self.cohen_kappa_ci else None
        ci = self.krippendorff_alpha_ci
        out["krippendorff_alpha_ci"] = list(ci) if ci else None
        out["position_bias_rate"] = self.position_bias_rate
        out["human"] = asdict(self.human) if self.human is not None else None
        return out


def _label(value: Hashable) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _values(fb: Feedback) -> list[tuple[str, str, Hashable]]:
    """(kind, item, value) of one feedback."""
    d = fb.data
    if fb.type is FeedbackType.BINARY:
        return [("binary", fb.interaction_id, str(d.get("value")))]
    if fb.type is FeedbackType.RATING:
        norm = normalized_rating(d)
        return [] if norm is None else [("rating", fb.interaction_id, round(norm, 6))]
    if fb.type is FeedbackType.MULTI_DIMENSIONAL:
        return [(f"dimension:{k}", fb.interaction_id, float(v)) for k, v in d["dimensions"].items()]
    pv = pair_verdict(fb)
    if pv is None or pv[1] == "inconsistent":
        return []
    ids, winner = pv
    # the same categories on every pair: the first or second id (sorted), or tie / both_bad
    value = "first" if winner == ids[0] else "second" if winner == ids[1] else winner
    return [("comparative", "|".join(ids), value)]


def _by_rater(
    records: Iterable[Feedback],
) -> tuple[dict[str, dict[str, dict[str, Hashable]]], dict[str, dict[str, dict[str, Hashable]]]]:
    """({judge: {kind|item: value}}, {kind: {item: {person: value}}}), latest per rater."""
    judges: dict[str, dict[str, dict[str, Hashable]]] = {}
    people: dict[str, dict[str, dict[str, Hashable]]] = {}
    for fb in sorted(records, key=lambda f: (f.timestamp, f.id)):
        model = evaluator_type(fb.source) == "model"
        for kind, item, value in _values(fb):
            if model:
                judges.setdefault(fb.user_id or "(model)", {}).setdefault(kind, {})[item] = value
            else:
                # an anonymous person is one rater per feedback
                person = fb.user_id or f"anonymous:{fb.id}"
                people.setdefault(kind, {}).setdefault(item, {})[person] = value
    return judges, people


def _num(value: Hashable) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _interval(values: Sequence[float]) -> tuple[float, float] | None:
    if len(values) < 2:
        return None
    s = sorted(values)
    lo = s[int(0.025 * (len(s) - 1))]
    hi = s[int(round(0.975 * (len(s) - 1)))]
    return (lo, hi)


def _figures(
    rows: Sequence[tuple[Hashable, Mapping[str, Hashable]]], numeric: bool
) -> tuple[float | None, float | None]:
    a = [j for j, hs in rows for _ in hs]
    b = [h for _, hs in rows for h in hs.values()]
    kappa = cohen_kappa(a, b)
    units = [[j, *hs.values()] for j, hs in rows]
    alpha = krippendorff_alpha(units, "interval" if numeric else "nominal")
    return kappa, alpha


def judge_agreement_of(
    judge: str,
    kind: str,
    verdicts: Mapping[str, Hashable],
    people: Mapping[str, Mapping[str, Hashable]],
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> JudgeAgreement | None:
    """Agreement of ``verdicts`` (``{item: value}``) with ``people`` (``{item: {person:
    value}}``) over the items both judged; ``None`` when there is none."""
    rows = [(verdicts[i], people[i]) for i in sorted(verdicts) if people.get(i)]
    if not rows:
        return None
    numeric = kind in _NUMERIC or kind.startswith("dimension:")
    kappa, alpha = _figures(rows, numeric)
    rng = random.Random(seed)
    kappas: list[float] = []
    alphas: list[float] = []
    for _ in range(resamples if len(rows) > 1 else 0):
        sample = [rows[rng.randrange(len(rows))] for _ in rows]
        k, a = _figures(sample, numeric)
        if k is not None:
            kappas.append(k)
        if a is not None:
            alphas.append(a)
    pairs = [(j, h) for j, hs in rows for h in hs.values()]
    confusion: dict[str, Counter[str]] = {}
    for j, h in pairs:
        confusion.setdefault(_label(j), Counter())[_label(h)] += 1
    diff = None
    if numeric:
        diff = sum(_num(j) - _num(h) for j, h in pairs) / len(pairs)
    return JudgeAgreement(
        judge=judge,
        kind=kind,
        items=len(rows),
        pairs=len(pairs),
        percent_agreement=sum(1 for j, h in pairs if j == h) / len(pairs),
        cohen_kappa=kappa,
        cohen_kappa_ci=_interval(kappas),
        krippendorff_alpha=alpha,
        krippendorff_alpha_ci=_interval(alphas),
        mean_difference=diff,
        confusion={k: dict(sorted(v.items())) for k, v in sorted(confusion.items())},
        human=agreement_of(kind, people),
    )


def _position_bias(records: Iterable[Feedback]) -> dict[str, tuple[int, int]]:
    """{judge: (pairs judged in both orders, inconsistent ones)} of pairwise verdicts."""
    seen: dict[str, dict[str, bool]] = {}
    for fb in records:
        if evaluator_type(fb.source) != "model" or fb.type is not FeedbackType.COMPARATIVE:
            continue
        consistent = fb.metadata.get("consistent")
        item = fb.metadata.get("item")
        if isinstance(consistent, bool) and isinstance(item, str):
            seen.setdefault(fb.user_id or "(model)", {})[item] = consistent
    return {j: (len(v), sum(1 for c in v.values() if not c)) for j, v in seen.items()}


def judge_agreement(
    store: Store,
    *,
    judge: str | None = None,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> list[JudgeAgreement]:
    """Every judge's agreement with people in ``store``, per kind of judgement.

    Computed when the store holds verdicts with ``source="model"`` (what ``judge run``
    writes); then feedback from every model source counts as a judge's.

    Args:
        store: any store.
        judge: only this judge (``name`` or ``name@version``).
        resamples: bootstrap resamples for the intervals (0: none).
        seed: the bootstrap's random seed (the figures are reproducible).
    """
    # a cheap pass first (stores filter by source before parsing): no verdicts written by
    # `judge run` (source "model"), no further work
    if next(iter(store.scan_feedback(FeedbackFilter(source=MODEL_SOURCE, limit=1))), None) is None:
        return []
    records = list(store.scan_feedback())
    superseded = {fb.supersedes for fb in records if fb.supersedes}
    records = [fb for fb in records if fb.id not in superseded]
    judges, people = _by_rater(records)
    bias = _position_bias(records)
    out: list[JudgeAgreement] = []
    for name in sorted(set(judges) | set(bias)):
        if judge is not None and name != judge and not name.startswith(judge + "@"):
            continue
        kinds = judges.get(name, {})
        for kind in sorted(kinds, key=lambda k: (k.startswith("dimension:"), k)):
            ag = judge_agreement_of(
                name, kind, kinds[kind], people.get(kind, {}), resamples=resamples, seed=seed
            )
            if ag is None:
                ag = JudgeAgreement(
                    judge=name, kind=kind, items=0, pairs=0, percent_agreement=None,
                    cohen_kappa=None, cohen_kappa_ci=None, krippendorff_alpha=None,
                    krippendorff_alpha_ci=None, mean_difference=None,
                    human=agreement_of(kind, people.get(kind, {})),
                )  # fmt: skip
            if kind == "comparative" and name in bias:
                pj, inc = bias[name]
                ag = _with_bias(ag, pj, inc)
            out.append(ag)
        if "comparative" not in kinds and name in bias:
            pj, inc = bias[name]
            out.append(
                JudgeAgreement(
                    judge=name,
                    kind="comparative",
                    items=0,
                    pairs=0,
                    percent_agreement=None,
                    cohen_kappa=None,
                    cohen_kappa_ci=None,
                    krippendorff_alpha=None,
                    krippendorff_alpha_ci=None,
                    mean_difference=None,
                    pairs_judged=pj,
                    inconsistent_pairs=inc,
                )  # fmt: skip
            )
    return out


def _with_bias(ag: JudgeAgreement, pairs_judged: int, inconsistent: int) -> JudgeAgreement:
    d = {f: getattr(ag, f) for f in ag.__dataclass_fields__}
    d.update(pairs_judged=pairs_judged, inconsistent_pairs=inconsistent)
    return JudgeAgreement(**d)


class JudgeFigures:
    """Judge-vs-people agreement over a store for the review app
    (:func:`judge_agreement`): computed on first use, then refreshed in the
    background at most once a minute, so a progress request never waits for a rescan."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cached: tuple[float, list[dict[str, Any]]] | None = None
        self._lock = threading.Lock()
        self._refreshing = False

    def _compute(self) -> list[dict[str, Any]]:
        return [a.to_dict() for a in judge_agreement(self.store, resamples=200)]

    def _refresh(self) -> None:
        try:
            found = self._compute()
            with self._lock:
                self._cached = (time.monotonic(), found)
        except Exception:  # a failed refresh keeps the last figures; the next one retries
            _log.warning("judge figures could not be refreshed", exc_info=True)
        finally:
            with self._lock:
                self._refreshing = False

    def rows(self) -> list[dict[str, Any]]:
        """The figures as plain dicts, one per judge and rubric item."""
        with self._lock:
            cached = self._cached
            stale = cached is not None and time.monotonic() - cached[0] >= REFRESH_SECONDS
            start = stale and not self._refreshing
            if start:
                self._refreshing = True
        if cached is None:
            found = self._compute()
            with self._lock:
                self._cached = (time.monotonic(), found)
            return found
        if start:
            threading.Thread(target=self._refresh, name="judge-figures", daemon=True).start()
        return cached[1]
