"""Validation at the public API: clean payloads or a ValidationError that says what is allowed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from rlhf_otel._checks import finite_number, optional_str
from rlhf_otel._errors import ValidationError
from rlhf_otel._redact import replace_surrogates
from rlhf_otel.records import (
    BinaryData,
    ComparativeData,
    FeedbackType,
    MultiDimensionalData,
    RatingData,
    TextData,
    TokenUsage,
    data_class,
)

__all__ = [
    "binary_data",
    "comparative_data",
    "feedback_data",
    "finite_number",
    "identifier",
    "multi_dimensional_data",
    "optional_str",
    "rating_data",
    "text_data",
    "token_usage",
]

_ROLES = ("system", "user", "assistant", "tool", "developer")
MAX_ID_CHARS = 256
"""Longest user id, session id, source, model or provider accepted."""
MAX_METADATA_DEPTH = 32
"""Deepest nesting of mappings and lists accepted in metadata."""
MAX_METADATA_CHARS = 65_536
"""Most characters of keys and strings accepted in one record's metadata, in all."""


def identifier(name: str, value: object) -> str | None:
    """A user id, session id, source, model or provider: ``None`` or a non-empty string of
    at most :data:`MAX_ID_CHARS` characters."""
    text = optional_str(name, value)
    if text is not None and len(text) > MAX_ID_CHARS:
        raise ValidationError(
            f"{name} is {len(text):,} characters long; at most {MAX_ID_CHARS} are allowed"
        )
    return text


def binary_data(value: object) -> dict[str, Any]:
    """Payload of a thumbs feedback; ``True``/``False`` mean up/down."""
    return BinaryData.validate({"value": value})


def rating_data(
    rating: object, comment: object, max_rating: object, min_rating: object
) -> dict[str, Any]:
    """Payload of a rating on the scale ``min_rating..max_rating`` (defaults 1..5)."""
    return RatingData.validate(
        {"rating": rating, "comment": comment, "max_rating": max_rating, "min_rating": min_rating}
    )


def text_data(comment: object, sentiment: object, correction: object = None) -> dict[str, Any]:
    """Payload of a text feedback: a comment, a correction (the better answer), or both.

    ``correction`` is stored only when given (a record without it reads as ``None``).
    """
    return TextData.validate({"comment": comment, "sentiment": sentiment, "correction": correction})


def multi_dimensional_data(
    dimensions: object, weights: object, overall_comment: object
) -> dict[str, Any]:
    """Payload of a multi-dimensional rating; weights, if given, cover exactly the dimensions."""
    return MultiDimensionalData.validate(
        {"dimensions": dimensions, "weights": weights, "overall_comment": overall_comment}
    )


def comparative_data(
    preferred: object,
    compared: object,
    reason: object,
    confidence: object,
    outcome: object = "preferred",
) -> dict[str, Any]:
    """Payload of a comparison: one preferred response over one or more others.

    ``outcome`` ``"tie"`` or ``"both_bad"`` says no response won; the ids then keep the
    order they were shown in. It is stored only when not ``"preferred"`` (the default a
    record without it reads as).
    """
    return ComparativeData.validate(
        {
            "preferred_response_id": preferred,
            "compared_response_ids": compared,
            "reason": reason,
            "confidence_level": confidence,
            "outcome": outcome,
        }
    )


def feedback_data(ftype: FeedbackType, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a generic ``log_feedback`` payload by its type."""
    if not isinstance(data, Mapping):
        raise ValidationError("feedback data must be a mapping")
    cls = data_class(ftype)
    try:
        return cls.validate(data)
    except KeyError as exc:
        raise ValidationError(
            f"{ftype.value} feedback data lacks the field {exc.args[0]!r}"
        ) from None


_USAGE_KEYS: Final = {"prompt": None, "completion": None, "total": None}.keys()


def _count_ok(count: object) -> bool:
    return count is None or (type(count) is int and count >= 0)


def token_usage(value: object) -> TokenUsage | None:
    """A :class:`TokenUsage` from one or a mapping with prompt/completion/total."""
    if type(value) is dict and value.keys() <= _USAGE_KEYS:
        # The common case, checked once: a plain dict of non-negative ints.
        prompt, completion = value.get("prompt"), value.get("completion")
        total = value.get("total")
        if _count_ok(prompt) and _count_ok(completion) and _count_ok(total):
            if total is None and prompt is not None and completion is not None:
                total = prompt + completion
            return TokenUsage(prompt, completion, total)
    if value is None or isinstance(value, TokenUsage):
        usage = value
    elif isinstance(value, Mapping):
        unknown = set(value) - {"prompt", "completion", "total"}
        if unknown:
            raise ValidationError(
                f"token_usage keys {sorted(unknown)} unknown; allowed: prompt, completion, total"
            )
        usage = TokenUsage(value.get("prompt"), value.get("completion"), value.get("total"))
    else:
        raise ValidationError("token_usage must be a TokenUsage or a mapping")
    if usage is None:
        return None
    for name in ("prompt", "completion", "total"):
        count = getattr(usage, name)
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 0
        ):
            raise ValidationError(f"token_usage.{name} must be an int >= 0; got {count!r}")
    if usage.total is None and usage.prompt is not None and usage.completion is not None:
        usage = TokenUsage(usage.prompt, usage.completion, usage.prompt + usage.completion)
    return usage


def context_messages(value: object) -> list[Mapping[str, Any]]:
    """Conversation context: a list of ``{"role", "content"}`` mappings."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValidationError("context must be a list of {'role', 'content'} mappings")
    out: list[Mapping[str, Any]] = []
    for i, msg in enumerate(value):
        if not isinstance(msg, Mapping) or msg.get("role") not in _ROLES:
            raise ValidationError(
                f"context[{i}] must be a mapping with role in {', '.join(_ROLES)}; got {msg!r:.80}"
            )
        content = msg.get("content")
        if content is not None and not isinstance(content, str):
            raise ValidationError(f"context[{i}].content must be a string")
        out.append(msg)
    return out


def metadata(value: object, name: str = "metadata") -> dict[str, Any]:
    """A copy of a metadata mapping with string keys, lone surrogates replaced by U+FFFD.

    Raises:
        ValidationError: not a mapping with string keys, nested deeper than
            :data:`MAX_METADATA_DEPTH`, circular, or holding more than
            :data:`MAX_METADATA_CHARS` characters of keys and strings.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValidationError(f"{name} must be a mapping with string keys")
    walker = _MetadataWalk(name)
    out: dict[str, Any] = walker.copy(value, 1)
    return out


class _MetadataWalk:
    """Copies metadata while checking depth, cycles and size (no recursion limit reached:
    the depth bound stops it long before Python's)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.chars = 0
        self.open: set[int] = set()

    def _text(self, text: str) -> str:
        self.chars += len(text)
        if self.chars > MAX_METADATA_CHARS:
            raise ValidationError(
                f"{self.name} is too large: more than {MAX_METADATA_CHARS:,} characters of keys "
                "and strings in all"
            )
        return replace_surrogates(text)

    def copy(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self._text(value)
        if not isinstance(value, (Mapping, list, tuple)):
            return value
        if depth > MAX_METADATA_DEPTH:
            raise ValidationError(
                f"{self.name} is nested more than {MAX_METADATA_DEPTH} levels deep; flatten it"
            )
        if id(value) in self.open:
            raise ValidationError(f"{self.name} is circular: a container holds itself")
        self.open.add(id(value))
        try:
            if isinstance(value, Mapping):
                out: Any = {}
                for k, v in value.items():
                    out[self._text(k) if isinstance(k, str) else k] = self.copy(v, depth + 1)
                return out
            return [self.copy(v, depth + 1) for v in value]
        finally:
            self.open.discard(id(value))
