"""Redaction and size limits applied to every text field before any span or sink sees it."""

from __future__ import annotations

import dataclasses
import logging
import re
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from opentelemetry.trace import Span, Status, StatusCode

from rlhf_otel._counters import DropCounter

__all__ = [
    "ContentPolicy",
    "Redactor",
    "record_exception",
    "redact_secrets",
    "replace_surrogates",
    "replace_surrogates_deep",
]

_log = logging.getLogger("rlhf_otel")


class Redactor(Protocol):
    """A plain callable that returns ``text`` with whatever must not be stored replaced."""

    def __call__(self, text: str, /) -> str: ...


# Starting only where a run of local-part characters starts keeps this linear on long runs.
_EMAIL: Final = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_API_KEYS: Final = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|xox[abpr]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_-]{35})"
    r"|(?i:bearer\s+)[A-Za-z0-9._~+/=-]{20,}"
    r"|(?i:(?:api[_-]?key|secret|token|password)\s*[:=]\s*)[\"']?[^\s\"']{8,}"
)
_CARD: Final = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def replace_surrogates(text: str) -> str:
    """``text`` with every lone surrogate (not encodable as UTF-8) replaced by U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[REDACTED:card]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group()


def redact_secrets(text: str, /) -> str:
    """The built-in redactor: e-mail addresses, API keys and tokens, payment card numbers.

    Card numbers are replaced only when they pass the Luhn check, so order numbers and
    timestamps survive. Idempotent: redacting twice gives the same text.
    """
    if not text:
        return text
    text = _API_KEYS.sub("[REDACTED:api_key]", text)
    text = _EMAIL.sub("[REDACTED:email]", text)
    return _CARD.sub(_card, text)


def replace_surrogates_deep(value: Any) -> Any:
    """``value`` with :func:`replace_surrogates` applied to every string inside it: mapping
    keys and values, list and tuple items, and the fields of dataclass instances (copied)."""
    if isinstance(value, str):
        return replace_surrogates(value)
    if isinstance(value, Mapping):
        return {replace_surrogates_deep(k): replace_surrogates_deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_surrogates_deep(v) for v in value]
    if isinstance(value, tuple):
        return tuple(replace_surrogates_deep(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: replace_surrogates_deep(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    return value


class ContentPolicy:
    """Applies the redactors, then the size limits, to the text fields of a record.

    A limit of ``None`` means unlimited. A truncated text ends with a visible
    ``…[truncated N chars]`` marker and is counted in ``truncated``. A redactor that raises
    does not let the text through: it becomes ``[REDACTION FAILED]`` and is counted.
    """

    def __init__(
        self,
        redactors: Sequence[Callable[[str], str]] = (),
        *,
        max_prompt_chars: int | None = None,
        max_response_chars: int | None = None,
        max_context_messages: int | None = None,
        max_text_chars: int | None = None,
    ) -> None:
        self.redactors = tuple(redactors)
        self.max_prompt_chars = max_prompt_chars
        self.max_response_chars = max_response_chars
        self.max_context_messages = max_context_messages
        self.max_text_chars = max_text_chars
        self.counts = DropCounter()

    def _redact(self, text: str) -> str:
        for redactor in self.redactors:
            try:
                text = redactor(text)
            except Exception:
                _log.warning("a redactor raised; the text was replaced", exc_info=True)
                self.counts.add("redaction_failed")
                return "[REDACTION FAILED]"
        return text

    def text(self, text: str, limit: int | None) -> str:
        """``text`` redacted and cut to ``limit`` characters (marker included in the count)."""
        text = replace_surrogates(text)
        if self.redactors:
            text = self._redact(text)
        if limit is not None and len(text) > limit:
            cut = len(text) - limit
            marker = f"…[truncated {cut} chars]"
            text = text[: max(limit - len(marker), 0)] + marker
            self.counts.add("truncated")
        return text

    def prompt(self, text: str) -> str:
        """A prompt, redacted and limited."""
        return self.text(text, self.max_prompt_chars)

    def response(self, text: str) -> str:
        """A response, redacted and limited."""
        return self.text(text, self.max_response_chars)

    def comment(self, text: str | None) -> str | None:
        """A feedback comment or reason, redacted and limited."""
        return None if text is None else self.text(text, self.max_text_chars)

    def context(self, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Context messages: the most recent ``max_context_messages``, each limited."""
        kept = list(messages)
        if self.max_context_messages is not None and len(kept) > self.max_context_messages:
            dropped = len(kept) - self.max_context_messages
            kept = kept[dropped:] if self.max_context_messages else []
            self.counts.add("truncated")
            kept.insert(0, {"role": "system", "content": f"…[{dropped} earlier messages omitted]"})
        out = []
        for msg in kept:
            m = dict(msg)
            if isinstance(m.get("content"), str):
                m["content"] = self.text(m["content"], self.max_text_chars)
            out.append(m)
        return out

    def ident(self, value: str | None) -> str | None:
        """A user id, session id or source, redacted (its length was checked at the API)."""
        if value is None or not self.redactors:
            return value
        return self._redact(value)

    def metadata(self, value: Any) -> Any:
        """Metadata with every string inside redacted, keys included."""
        if not self.redactors:
            return value
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, Mapping):
            return {
                (self._redact(k) if isinstance(k, str) else k): self.metadata(v)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self.metadata(v) for v in value]
        return value

    @property
    def truncated(self) -> int:
        """How many texts were cut so far."""
        return self.counts.snapshot().get("truncated", 0)


_DEFAULT_POLICY: Final = ContentPolicy(max_text_chars=100_000)
_STATUS_CHARS: Final = 200


def _tail(policy: ContentPolicy, text: str) -> str:
    # A stack trace's last lines (the raising frame and the message) matter most.
    text = policy.text(text, None)
    limit = policy.max_text_chars
    if limit is None or len(text) <= limit:
        return text
    cut = len(text) - limit
    marker = f"[truncated {cut} chars]…"
    policy.counts.add("truncated")
    return marker + text[len(text) - max(limit - len(marker), 0) :]


def record_exception(span: Span, exc: BaseException, policy: ContentPolicy | None) -> None:
    """Record ``exc`` on ``span`` (the ``exception`` event and status ERROR) with its
    message, stack trace and status description passed through ``policy`` (its redactors
    and ``max_text_chars``; the stack trace keeps its end): they may quote the prompt or a
    secret. Without a policy, only the size limit of the defaults applies."""
    policy = policy or _DEFAULT_POLICY
    try:
        message = policy.text(str(exc), policy.max_text_chars)
    except Exception:  # a __str__ that raises must not hide the user's own exception
        message = "[unprintable exception]"
    stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    exc_type = type(exc)
    module = exc_type.__module__
    name = (
        exc_type.__qualname__
        if module in ("builtins", "__main__")
        else (f"{module}.{exc_type.__qualname__}")
    )
    span.add_event(
        "exception",
        {
            "exception.type": name,
            "exception.message": message,
            "exception.stacktrace": _tail(policy, stack),
            "exception.escaped": False,
        },
    )
    span.set_status(Status(StatusCode.ERROR, message[:_STATUS_CHARS]))
