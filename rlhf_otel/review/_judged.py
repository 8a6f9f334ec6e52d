"""The judge conditions of a selection: where a judge's verdicts and people's feedback differ,
where a judge is unsure, and what only a judge has seen."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, Final

from rlhf_otel.recording import evaluator_type
from rlhf_otel.records import Feedback, FeedbackType, satisfaction
from rlhf_otel.review._spec import Selection
from rlhf_otel.stores import Store

__all__ = ["DISAGREEMENT", "judge_matches", "pair_verdict", "satisfaction_of"]

DISAGREEMENT: Final = 0.5
"""Judge and people disagree when their mean satisfaction (0..1) differs by at least this."""


def satisfaction_of(fb: Feedback) -> float | None:
    """Thumbs up 1 / down 0, a rating on 0..1 by its scale; ``None`` for other types."""
    return satisfaction(fb.type, fb.data)


def pair_verdict(fb: Feedback) -> tuple[tuple[str, ...], Hashable] | None:
    """(the pair's sorted ids, the winner id or ``tie``/``both_bad``/``inconsistent``) of a
    comparative feedback on two answers (a judge's: its both-order verdict)."""
    if fb.type is not FeedbackType.COMPARATIVE:
        return None
    d = fb.data
    ids = tuple(sorted({d["preferred_response_id"], *d["compared_response_ids"]}))
    if len(ids) != 2:
        return None
    meta: Mapping[str, Any] = fb.metadata
    if evaluator_type(fb.source) == "model" and "pair_verdict" in meta:
        return ids, str(meta["pair_verdict"])
    outcome = d.get("outcome") or "preferred"
    return ids, d["preferred_response_id"] if outcome == "preferred" else outcome


def _confidence(fb: Feedback) -> float | None:
    value = fb.metadata.get("confidence")
    if value is None and fb.type is FeedbackType.COMPARATIVE:
        value = fb.data.get("confidence_level")
    return float(value) if isinstance(value, (int, float)) else None


def _targets(fb: Feedback) -> set[str]:
    return {fb.interaction_id, *fb.target_ids}


def judge_matches(store: Store, sel: Selection, review_source: str) -> set[str]:
    """Ids of the interactions that pass every judge condition of ``sel``."""
    records = list(store.scan_feedback())
    superseded = {fb.supersedes for fb in records if fb.supersedes}
    judged: set[str] = set()
    uncertain: set[str] = set()
    people: set[str] = set()
    judge_sat: dict[str, list[float]] = {}
    people_sat: dict[str, list[float]] = {}
    judge_pairs: dict[tuple[str, ...], Hashable] = {}
    people_pairs: dict[tuple[str, ...], list[Hashable]] = {}
    for fb in records:
        if fb.id in superseded or fb.source == review_source:
            continue
        model = evaluator_type(fb.source) == "model"
        if model and sel.judge is not None:
            uid = fb.user_id or ""
            if uid != sel.judge and not uid.startswith(sel.judge + "@"):
                continue
        targets = _targets(fb)
        sat = satisfaction_of(fb)
        pair = pair_verdict(fb)
        if model:
            judged |= targets
            conf = _confidence(fb)
            threshold = sel.judge_uncertain
            inconsistent = fb.metadata.get("consistent") is False
            if threshold is not None and (inconsistent or (conf is not None and conf < threshold)):
                uncertain |= targets
            if sat is not None:
                judge_sat.setdefault(fb.interaction_id, []).append(sat)
            if pair is not None and pair[1] != "inconsistent":
                judge_pairs[pair[0]] = pair[1]
        else:
            people |= targets
            if sat is not None:
                people_sat.setdefault(fb.interaction_id, []).append(sat)
            if pair is not None:
                people_pairs.setdefault(pair[0], []).append(pair[1])
    out = set(judged)
    if sel.judge_only:
        out -= people
    if sel.judge_uncertain is not None:
        out &= uncertain
    if sel.judge_disagrees:
        differ = {
            iid
            for iid, js in judge_sat.items()
            if iid in people_sat
            and abs(sum(js) / len(js) - sum(people_sat[iid]) / len(people_sat[iid])) >= DISAGREEMENT
        }
        for ids, verdict in judge_pairs.items():
            votes = people_pairs.get(ids)
            if votes and max(sorted(set(votes), key=str), key=votes.count) != verdict:
                differ.update(ids)
        out &= differ
    return out
