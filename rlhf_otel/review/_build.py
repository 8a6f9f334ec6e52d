"""Queue building: the items a queue spec selects from a store, in a stable order."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from rlhf_otel.recording import evaluator_type
from rlhf_otel.records import (
    Feedback,
    FeedbackFilter,
    FeedbackType,
    Interaction,
    InteractionFilter,
)
from rlhf_otel.review._judged import judge_matches
from rlhf_otel.review._spec import QueueSpec, Selection
from rlhf_otel.stores import Store

__all__ = [
    "REVIEW_SOURCE",
    "Item",
    "build_queue",
    "describe_funnel",
    "item_key",
    "queue_funnel",
    "select_items",
]

REVIEW_SOURCE: Final = "review"
"""The ``source`` of every feedback the review app writes."""
PAIR_SEPARATOR: Final = "|"


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to review: an interaction, or two answers to the same prompt."""

    key: str
    interaction_ids: tuple[str, ...]


def item_key(interaction_ids: Iterable[str]) -> str:
    """The key of an item: the id, or both ids sorted and joined by ``|``."""
    return PAIR_SEPARATOR.join(sorted(interaction_ids))


def _counts(fb: Feedback) -> bool:
    # people's feedback outside the review app: a judge's verdicts are not "feedback" here
    return fb.source != REVIEW_SOURCE and evaluator_type(fb.source) != "model"


def _feedback_conditions(store: Store, sel: Selection) -> tuple[set[str] | None, set[str] | None]:
    """(ids with any feedback, ids matching thumbs_down/rating_at_most), as needed."""
    if not (sel.no_feedback or sel.thumbs_down or sel.rating_at_most is not None):
        return None, None
    touched: set[str] = set()
    superseded: set[str] = set()
    # (feedback id, interaction id, matches) of the versions that may count
    candidates: list[tuple[str, str, bool, bool]] = []
    flt = None
    if not sel.no_feedback:
        flt = FeedbackFilter(types=[FeedbackType.BINARY, FeedbackType.RATING])
    for fb in store.scan_feedback(flt):
        if fb.supersedes:
            superseded.add(fb.supersedes)
        if not _counts(fb):
            continue
        if sel.no_feedback:
            touched.add(fb.interaction_id)
            touched.update(fb.target_ids)
            continue
        down = fb.type is FeedbackType.BINARY and fb.data.get("value") == "thumbs_down"
        low = (
            sel.rating_at_most is not None
            and fb.type is FeedbackType.RATING
            and float(fb.data.get("rating", 0)) <= sel.rating_at_most
        )
        if down or low:
            candidates.append((fb.id, fb.interaction_id, down, low))
    if sel.no_feedback:
        return touched, None
    by_id: dict[str, list[bool]] = {}
    for fid, iid, down, low in candidates:
        if fid in superseded:
            continue
        flags = by_id.setdefault(iid, [False, False])
        flags[0] = flags[0] or down
        flags[1] = flags[1] or low
    need_down, need_low = sel.thumbs_down, sel.rating_at_most is not None
    return None, {
        iid
        for iid, (down, low) in by_id.items()
        if (down or not need_down) and (low or not need_low)
    }


def _prompt_key(it: Interaction) -> bytes:
    h = hashlib.blake2b(it.prompt.encode("utf-8"), digest_size=16)
    if it.context:
        h.update(b"\0" + json.dumps([dict(m) for m in it.context], sort_keys=True).encode())
    return h.digest()


def build_queue(
    store: Store, spec: QueueSpec, *, progress: Callable[[int], None] | None = None
) -> list[Item]:
    """The items of ``spec``'s queue, in the order they are handed out (see
    :func:`select_items`)."""
    return select_items(store, spec.selection, progress=progress)


def select_items(
    store: Store, sel: Selection, *, progress: Callable[[int], None] | None = None
) -> list[Item]:
    """The items ``sel`` selects (a queue's, or a judge's sampling), in a stable order.

    One pass over the feedback (only when a condition needs it) and one over the
    interactions; only ids are kept. Store order (oldest first) unless ``sample`` is set,
    then a seeded random sample in random order. ``pairs``: per prompt (and context) with
    answers from two or more models, one pair of answers of two different models, chosen
    with the seed.
    """
    touched, matching = _feedback_conditions(store, sel)
    judged = judge_matches(store, sel, REVIEW_SOURCE) if sel.needs_judge else None
    models = set(sel.models)
    flt = InteractionFilter(
        start_time=sel.since,
        end_time=sel.until,
        model=sel.models[0] if len(sel.models) == 1 else None,
    )
    singles: list[str] = []
    groups: dict[bytes, dict[str, list[str]]] = {}
    seen = 0
    for it in store.scan_interactions(flt):
        seen += 1
        if progress is not None and seen % 100_000 == 0:
            progress(seen)
        iid = it.id
        if models and it.model not in models:
            continue
        if touched is not None and iid in touched:
            continue
        if matching is not None and iid not in matching:
            continue
        if judged is not None and iid not in judged:
            continue
        if sel.pairs:
            if it.model:
                groups.setdefault(_prompt_key(it), {}).setdefault(it.model, []).append(iid)
        else:
            singles.append(iid)
    items: list[Item]
    if sel.pairs:
        items = []
        for digest, by_model in groups.items():
            if len(by_model) < 2:
                continue
            rng = random.Random(sel.seed.to_bytes(8, "big") + digest)
            a, b = rng.sample(sorted(by_model), 2)
            ids = (rng.choice(by_model[a]), rng.choice(by_model[b]))
            items.append(Item(item_key(ids), tuple(sorted(ids))))
    else:
        items = [Item(i, (i,)) for i in dict.fromkeys(singles)]
    if sel.sample is not None:
        rng = random.Random(sel.seed)
        items = rng.sample(items, min(sel.sample, len(items)))
    return items


def _conditions(sel: Selection) -> list[str]:
    names = []
    if sel.since is not None or sel.until is not None:
        names.append("since/until")
    if sel.models:
        names.append("models")
    if sel.no_feedback:
        names.append("no_feedback")
    if sel.thumbs_down or sel.rating_at_most is not None:
        names.append(
            " + ".join(
                n
                for n, on in (
                    ("thumbs_down", sel.thumbs_down),
                    ("rating_at_most", sel.rating_at_most is not None),
                )
                if on
            )
        )
    return names


_WHY: Final = {
    "since/until": "outside the time range",
    "models": "from other models",
    "no_feedback": "already have feedback (end users or the demo)",
    "thumbs_down": "have no thumbs-down",
    "rating_at_most": "have no rating at or below the limit",
    "thumbs_down + rating_at_most": "lack a thumbs-down and a low rating",
    "pairs": "not paired: one pair per distinct prompt answered by two models",
    "sample": "left out of the sample",
}


def queue_funnel(store: Store, spec: QueueSpec) -> list[dict[str, object]]:
    """What each selection condition removed, in order: ``[{"condition", "removed", "left",
    "why"}]``, the first row being the store's interactions (``removed`` 0).

    One extra pass over the store; the app and the CLI show it when a queue is empty.
    """
    sel = spec.selection
    touched, matching = _feedback_conditions(store, sel)
    models = set(sel.models)
    removed: dict[str, int] = dict.fromkeys(_conditions(sel), 0)
    total = left = 0
    for it in store.scan_interactions(None):
        total += 1
        if (sel.since is not None and it.timestamp < sel.since) or (
            sel.until is not None and it.timestamp > sel.until
        ):
            removed["since/until"] += 1
        elif models and it.model not in models:
            removed["models"] += 1
        elif touched is not None and it.id in touched:
            removed["no_feedback"] += 1
        elif matching is not None and it.id not in matching:
            removed[_conditions(sel)[-1]] += 1
        else:
            left += 1
    rows: list[dict[str, object]] = [
        {"condition": "interactions in the store", "removed": 0, "left": total, "why": ""}
    ]
    running = total
    for name, n in removed.items():
        running -= n
        rows.append({"condition": name, "removed": n, "left": running, "why": _WHY[name]})
    items = len(build_queue(store, spec))
    if sel.pairs:
        pairs_left = items if sel.sample is None else len(
            build_queue(store, QueueSpec(name=spec.name, selection=_unsampled(sel),
                                         rubric=spec.rubric))
        )  # fmt: skip
        rows.append(
            {
                "condition": "pairs",
                "removed": left - 2 * pairs_left,
                "left": pairs_left,
                "why": _WHY["pairs"],
            }
        )
        left = pairs_left
    if sel.sample is not None:
        rows.append(
            {"condition": "sample", "removed": left - items, "left": items, "why": _WHY["sample"]}
        )
    return rows


def _unsampled(sel: Selection) -> Selection:
    return dataclasses.replace(sel, sample=None)


def describe_funnel(rows: list[dict[str, object]]) -> str:
    """One line: what each condition removed (for the CLI and the app)."""
    first, rest = rows[0], rows[1:]
    parts = [f"{first['left']} interactions in the store"]
    for r in rest:
        parts.append(f"{r['condition']} removed {r['removed']} ({r['why']}), {r['left']} left")
    return "; ".join(parts)
