"""Review progress and agreement from the stored review feedback (the app and ``stats``)."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from rlhf_otel.analytics import AgreementStats, cohen_kappa, fleiss_kappa, krippendorff_alpha
from rlhf_otel.records import Feedback, FeedbackFilter, data_class
from rlhf_otel.review._build import REVIEW_SOURCE
from rlhf_otel.stores import Store

__all__ = ["agreement_of", "judgements", "queue_summary", "review_summary"]


def agreement_of(kind: str, items: Mapping[str, Mapping[str, Hashable]]) -> AgreementStats | None:
    """Agreement of one kind of judgement over items rated by two or more raters.

    ``items`` maps an item to ``{rater: value}``. The figures are those of
    ``get_analytics`` (Krippendorff's alpha, interval for numbers and nominal otherwise,
    Fleiss' kappa, and Cohen's kappa averaged over rater pairs sharing two or more items).
    """
    multi = {k: v for k, v in items.items() if len(v) >= 2}
    if not multi:
        return None
    units = [list(v.values()) for v in multi.values()]
    raters = {u for v in multi.values() for u in v}
    numeric = kind not in ("binary", "comparative")
    pair_kappas = []
    for a, b in itertools.combinations(sorted(raters), 2):
        common = [(v[a], v[b]) for v in multi.values() if a in v and b in v]
        if len(common) >= 2:
            k = cohen_kappa([x for x, _ in common], [y for _, y in common])
            if k is not None:
                pair_kappas.append(k)
    return AgreementStats(
        kind=kind,
        items=len(multi),
        raters=len(raters),
        values=sum(len(u) for u in units),
        krippendorff_alpha=krippendorff_alpha(units, "interval" if numeric else "nominal"),
        krippendorff_alpha_ordinal=krippendorff_alpha(units, "ordinal") if numeric else None,
        krippendorff_alpha_nominal=krippendorff_alpha(units, "nominal"),
        fleiss_kappa=fleiss_kappa(Counter(u) for u in units),
        cohen_kappa=sum(pair_kappas) / len(pair_kappas) if pair_kappas else None,
        cohen_pairs=len(pair_kappas),
    )


def _item_of(fb: Feedback) -> str:
    item = fb.metadata.get("item")
    return item if isinstance(item, str) else fb.interaction_id


def current(records: Iterable[Feedback]) -> list[Feedback]:
    """The versions that count: none whose id another record names in ``supersedes``."""
    records = list(records)
    superseded = {fb.supersedes for fb in records if fb.supersedes}
    return [fb for fb in records if fb.id not in superseded]


def judgements(records: Iterable[Feedback]) -> dict[str, dict[str, dict[str, Hashable]]]:
    """``{kind: {item: {reviewer: value}}}`` of the counting versions, latest per reviewer.

    Kinds: ``binary``, ``rating``, ``dimension:<name>``, ``comparative`` (the chosen
    interaction id, or ``tie`` / ``both_bad``).
    """
    out: dict[str, dict[str, dict[str, Hashable]]] = {}
    ordered = sorted(current(records), key=lambda fb: (fb.timestamp, fb.id))
    for fb in ordered:
        user = fb.user_id
        if not user:
            continue
        item = _item_of(fb)
        for kind, value in data_class(fb.type).agreement(fb.data):
            out.setdefault(kind, {}).setdefault(item, {})[user] = value
    return out


def _reviewers(records: list[Feedback]) -> dict[str, dict[str, Any]]:
    first: dict[tuple[str, str], datetime] = {}
    for fb in records:
        if fb.user_id:
            key = (fb.user_id, _item_of(fb))
            if key not in first or fb.timestamp < first[key]:
                first[key] = fb.timestamp
    times: dict[str, list[datetime]] = {}
    for (user, _), ts in first.items():
        times.setdefault(user, []).append(ts)
    out: dict[str, dict[str, Any]] = {}
    for user, ts_list in sorted(times.items()):
        ts_list.sort()
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ts_list)]
        span = (ts_list[-1] - ts_list[0]).total_seconds()
        out[user] = {
            "reviews": len(ts_list),
            "first": ts_list[0].isoformat(),
            "last": ts_list[-1].isoformat(),
            "items_per_hour": (len(ts_list) - 1) / span * 3600 if span > 0 else None,
            "median_seconds_per_item": statistics.median(gaps) if gaps else None,
        }
    return out


def queue_summary(records: Iterable[Feedback]) -> dict[str, Any]:
    """Per-reviewer progress and throughput and per-kind agreement of one queue's records."""
    records = list(records)
    agreement = []
    found = judgements(records)
    for kind in sorted(found, key=lambda k: (k.startswith("dimension:"), k)):
        stats = agreement_of(kind, found[kind])
        if stats is not None:
            agreement.append(asdict(stats))
    items = {_item_of(fb) for fb in records}
    return {
        "reviews": len({(fb.user_id, _item_of(fb)) for fb in records if fb.user_id}),
        "items_reviewed": len(items),
        "reviewers": _reviewers(records),
        "agreement": agreement,
    }


def review_summary(store: Store) -> dict[str, Any]:
    """``{queue name: queue_summary}`` of every queue with review feedback in ``store``
    (the ``review`` section of ``rlhf-otel stats --json``)."""
    by_queue: dict[str, list[Feedback]] = {}
    for fb in store.scan_feedback(FeedbackFilter(source=REVIEW_SOURCE)):
        name = fb.metadata.get("queue")
        if isinstance(name, str):
            by_queue.setdefault(name, []).append(fb)
    return {name: queue_summary(recs) for name, recs in sorted(by_queue.items())}
