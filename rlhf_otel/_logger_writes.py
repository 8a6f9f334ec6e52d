"""RecordWriter: the logger's writes, validated and redacted into drafts for its recording
handler."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from rlhf_otel import _validate as V
from rlhf_otel._config import RLHFConfig
from rlhf_otel._errors import ValidationError
from rlhf_otel._logger_sessions import SessionDesk
from rlhf_otel._redact import ContentPolicy
from rlhf_otel.recording import FeedbackDraft, InteractionDraft, RecordingHandler
from rlhf_otel.records import FeedbackType, TokenUsage, data_class, new_feedback_id, validate_id

__all__ = ["FEEDBACK_OPTIONS", "RecordWriter"]

_log = logging.getLogger("rlhf_otel")

FEEDBACK_OPTIONS: Final = frozenset(
    {"user_id", "session_id", "source", "metadata", "feedback_id", "supersedes"}
)
_TEXT_KEYS: Final = ("comment", "reason", "overall_comment", "correction")


def _no_option(name: str) -> None:
    return None


class RecordWriter:
    """Validates and redacts what a logging call was given, and records it.

    Args:
        config: ids, anonymity, default metadata and ``debug`` apply.
        content: redaction and size limits applied to every text.
        desk: who a record belongs to (user, session).
        recording: the handler that builds the record and puts it on the queue.
    """

    def __init__(
        self,
        config: RLHFConfig,
        content: ContentPolicy,
        desk: SessionDesk,
        recording: RecordingHandler,
    ) -> None:
        self.config = config
        self._content = content
        self._desk = desk
        self._recording = recording

    def interaction(
        self,
        prompt: str,
        response: str,
        *,
        model: str | None,
        provider: str | None,
        model_params: Mapping[str, Any] | None,
        latency: float | None,
        token_usage: TokenUsage | Mapping[str, int] | None,
        user_id: str | None,
        session_id: str | None,
        context: Sequence[Mapping[str, Any]] | None,
        metadata: Mapping[str, Any] | None,
        interaction_id: str | None,
        response_id: str | None,
        finish_reasons: Sequence[str] | None,
    ) -> str:
        """Record one exchange (see ``RLHFLogger.log_interaction``); returns its id."""
        if not isinstance(prompt, str) or not isinstance(response, str):
            raise ValidationError("prompt and response must be strings")
        if interaction_id is not None:
            interaction_id = validate_id(interaction_id)
        elif not self.config.auto_generate_ids:
            raise ValidationError(
                "Interaction ID required when autoGenerateIds is disabled: pass "
                "interaction_id=... (auto_generate_ids=False)"
            )
        latency_ms = None if latency is None else V.finite_number("latency", latency)
        if latency_ms is not None and latency_ms < 0:
            raise ValidationError(f"latency must be >= 0 milliseconds; got {latency_ms:g}")
        usage = None if token_usage is None else V.token_usage(token_usage)
        ctx = V.context_messages(context) if context is not None else None
        meta = V.metadata(metadata) if metadata is not None else {}
        params = V.metadata(model_params, "model_params") if model_params is not None else {}
        model = None if model is None else V.identifier("model", model)
        provider = None if provider is None else V.identifier("provider", provider)
        user, sid, session = self._desk.who(user_id, session_id)
        c = self._content
        default_meta = self.config.default_metadata
        draft = InteractionDraft(
            id=interaction_id or "",
            prompt=c.prompt(prompt),
            response=c.response(response),
            model=model,
            provider=provider,
            model_params=params,
            latency_ms=latency_ms,
            token_usage=usage,
            user_id=user,
            session_id=sid,
            context=c.context(ctx) if ctx else [],
            metadata=c.metadata({**default_meta, **meta} if default_meta else meta),
            response_id=response_id,
            finish_reasons=tuple(finish_reasons) if finish_reasons else (),
        )
        interaction_id = self._recording.record(draft, session)
        if self.config.debug:
            _log.debug("Logged interaction: %s", interaction_id)
        return interaction_id

    def feedback(
        self,
        ftype: FeedbackType,
        interaction_id: str,
        data: dict[str, Any],
        options: Mapping[str, Any],
    ) -> str:
        """Record feedback of ``ftype`` with its validated ``data``; returns its id."""
        if options and not FEEDBACK_OPTIONS.issuperset(options):
            unknown = set(options) - FEEDBACK_OPTIONS
            raise ValidationError(
                f"unknown option(s) {sorted(unknown)}; allowed: user_id, session_id, source, "
                "metadata, feedback_id, supersedes"
            )
        target = validate_id(interaction_id)
        get = options.get if options else _no_option
        feedback_id = get("feedback_id")
        if feedback_id is not None:
            feedback_id = validate_id(feedback_id, "feedback id")
        elif not self.config.auto_generate_ids:
            raise ValidationError(
                "Feedback ID required when autoGenerateIds is disabled: pass feedback_id=..."
            )
        supersedes = get("supersedes")
        if supersedes is not None:
            supersedes = validate_id(supersedes, "superseded feedback id")
        source = get("source")
        if source is not None:
            source = self._content.ident(V.identifier("source", source))
        meta = V.metadata(get("metadata"))
        user, sid, session = self._desk.who(get("user_id"), get("session_id"))
        c = self._content
        for key in _TEXT_KEYS:
            if data.get(key) is not None:
                data[key] = c.comment(data[key])
        named = data_class(ftype).targets(data)
        targets = (target,) if named is None else tuple(named)
        default_meta = self.config.default_metadata
        draft = FeedbackDraft(
            id=feedback_id or new_feedback_id(),
            interaction_id=target,
            type=ftype,
            data=data,
            user_id=user,
            session_id=sid,
            source=source,
            metadata=c.metadata({**default_meta, **meta} if default_meta else meta),
            target_ids=targets,
            supersedes=supersedes,
        )
        self._recording.feedback(draft)
        if session is not None:
            session.feedback_ids.append(draft.id)
        if self.config.debug:
            _log.debug("Logged feedback: %s", draft.id)
        return draft.id
