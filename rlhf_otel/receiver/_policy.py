"""The logger's redaction and size limits, applied to records that arrive over OTLP."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rlhf_otel._errors import ValidationError
from rlhf_otel._redact import ContentPolicy
from rlhf_otel._validate import identifier
from rlhf_otel.records import Feedback, Interaction

__all__ = ["apply_policy"]

_FEEDBACK_TEXTS = ("comment", "reason", "overall_comment")


def apply_policy(
    policy: ContentPolicy, interactions: Sequence[Interaction], feedback: Sequence[Feedback]
) -> tuple[list[Interaction], list[Feedback], list[str]]:
    """The records with what ``RLHFLogger`` would have redacted and limited, redacted and
    limited (prompt, response, context messages, comments, metadata, user and session ids,
    source); and why each record the logger would have refused (an id over
    ``MAX_ID_CHARS``) was left out."""
    redacting = bool(policy.redactors)
    refused: list[str] = []
    its = []
    for it in interactions:
        try:
            _ids(user_id=it.user_id, session_id=it.session_id, model=it.model, provider=it.provider)
        except ValidationError as exc:
            refused.append(f"interaction {it.id!r}: {exc}")
            continue
        if redacting or _over(policy, it):
            it = dataclasses.replace(
                it,
                prompt=policy.prompt(it.prompt),
                response=policy.response(it.response),
                context=policy.context(it.context) if it.context else it.context,
                metadata=policy.metadata(it.metadata) if it.metadata else it.metadata,
                user_id=policy.ident(it.user_id),
                session_id=policy.ident(it.session_id),
            )
        its.append(it)
    fbs = []
    for fb in feedback:
        try:
            _ids(user_id=fb.user_id, session_id=fb.session_id, source=fb.source)
        except ValidationError as exc:
            refused.append(f"feedback {fb.id!r}: {exc}")
            continue
        if not redacting and not _texts_over(policy, fb):
            fbs.append(fb)
            continue
        data = fb.data
        texts = [k for k in _FEEDBACK_TEXTS if isinstance(data.get(k), str)]
        if texts:
            data = dict(data)
            for key in texts:
                data[key] = policy.comment(data[key])
        meta = policy.metadata(fb.metadata) if fb.metadata else fb.metadata
        fbs.append(
            dataclasses.replace(
                fb,
                data=data,
                metadata=meta,
                user_id=policy.ident(fb.user_id),
                session_id=policy.ident(fb.session_id),
                source=policy.ident(fb.source),
            )
        )
    return its, fbs, refused


def _ids(**values: str | None) -> None:
    for name, value in values.items():
        identifier(name, value)


def _long(text: object, limit: int | None) -> bool:
    return limit is not None and isinstance(text, str) and len(text) > limit


def _over(policy: ContentPolicy, it: Interaction) -> bool:
    """Whether a limit would change ``it`` (most records are well within them)."""
    if _long(it.prompt, policy.max_prompt_chars) or _long(it.response, policy.max_response_chars):
        return True
    if not it.context:
        return False
    most = policy.max_context_messages
    if most is not None and len(it.context) > most:
        return True
    return any(_long(m.get("content"), policy.max_text_chars) for m in it.context)


def _texts_over(policy: ContentPolicy, fb: Feedback) -> bool:
    return any(_long(fb.data.get(k), policy.max_text_chars) for k in _FEEDBACK_TEXTS)
