"""The logger's redaction and size limits, applied to records that arrive over OTLP."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rlhf_otel._redact import ContentPolicy
from rlhf_otel.records import Feedback, Interaction

__all__ = ["apply_policy"]

_FEEDBACK_TEXTS = ("comment", "reason", "overall_comment")


def apply_policy(
    policy: ContentPolicy, interactions: Sequence[Interaction], feedback: Sequence[Feedback]
) -> tuple[list[Interaction], list[Feedback]]:
    """The records with what ``RLHFLogger`` would have redacted and limited, redacted and
    limited (prompt, response, context messages, comments, metadata strings)."""
    its = [
        dataclasses.replace(
            it,
            prompt=policy.prompt(it.prompt),
            response=policy.response(it.response),
            context=policy.context(it.context) if it.context else it.context,
            metadata=policy.metadata(it.metadata) if it.metadata else it.metadata,
        )
        for it in interactions
    ]
    fbs = []
    for fb in feedback:
        data = fb.data
        texts = [k for k in _FEEDBACK_TEXTS if isinstance(data.get(k), str)]
        if texts:
            data = dict(data)
            for key in texts:
                data[key] = policy.comment(data[key])
        meta = policy.metadata(fb.metadata) if fb.metadata else fb.metadata
        fbs.append(dataclasses.replace(fb, data=data, metadata=meta))
    return its, fbs
