"""Feedback on a trace moved onto the interaction the trace settled into (by id aliases)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from rlhf_otel.records import Feedback

__all__ = ["retarget", "trace_of"]


def trace_of(interaction_id: str) -> int:
    """The trace id a ``<trace>-<span>`` (or bare trace) interaction id names, else -1."""
    head = interaction_id.split("-", 1)[0]
    try:
        return int(head, 16) if len(head) == 32 else -1
    except ValueError:
        return -1


def retarget(fb: Feedback, aliases: Mapping[str, str]) -> Feedback:
    """``fb`` with every interaction id it names moved to the interaction it aliases."""
    data = fb.data
    iid = fb.interaction_id
    if (
        iid not in aliases
        and fb.target_ids in ((), (iid,))
        and "preferred_response_id" not in data
        and "compared_response_ids" not in data
    ):
        return fb  # the common case: one target, not aliased
    ids = [iid, *(fb.target_ids or ())]
    preferred = data.get("preferred_response_id")
    compared = data.get("compared_response_ids")
    if isinstance(preferred, str):
        ids.append(preferred)
    if isinstance(compared, (list, tuple)):
        ids.extend(c for c in compared if isinstance(c, str))
    for i in ids:
        if aliases.get(i, i) != i:
            break
    else:
        return fb
    changes: dict[str, Any] = {
        "interaction_id": aliases.get(fb.interaction_id, fb.interaction_id),
        "target_ids": tuple(aliases.get(t, t) for t in fb.target_ids or ()),
    }
    if isinstance(preferred, str) or isinstance(compared, (list, tuple)):
        new_data = dict(data)
        if isinstance(preferred, str):
            new_data["preferred_response_id"] = aliases.get(preferred, preferred)
        if isinstance(compared, (list, tuple)):
            new_data["compared_response_ids"] = [aliases.get(c, c) for c in compared]
        changes["data"] = new_data
    return replace(fb, **changes)
