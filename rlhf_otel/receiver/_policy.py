"""The logger's redaction and size limits, applied to records that arrive over OTLP."""

from __future__ import annotations

from collections.abc import Sequence

from rlhf_otel._redact import ContentPolicy
from rlhf_otel.records._model import Feedback, Interaction

__all__ = ["apply_policy"]

_FEEDBACK_TEXTS = ("comment", "reason", "overall_comment")


def apply_policy(
    policy: ContentPolicy, interactions: Sequence[Interaction], feedback: Sequence[Feedback]
) -> None:
    """Redact and limit, in place, what ``RLHFLogger`` would have redacted and limited.

    The records were just decoded from a request and belong to the caller alone.
    """
    for it in interactions:
        it.prompt = policy.prompt(it.prompt)
        it.response = policy.response(it.response)
        if it.context:
            it.context = policy.context(it.context)
        if it.metadata:
            it.metadata = policy.metadata(it.metadata)
    for fb in feedback:
        texts = [k for k in _FEEDBACK_TEXTS if isinstance(fb.data.get(k), str)]
        if texts:
            data = dict(fb.data)
            for key in texts:
                data[key] = policy.comment(data[key])
            fb.data = data
        if fb.metadata:
            fb.metadata = policy.metadata(fb.metadata)
