"""Typed feedback data: one frozen dataclass per feedback type, a tagged union on ``type``.

Each class (one module each: ``_data_binary``, ``_data_rating``, ``_data_text``,
``_data_multi``, ``_data_comparative``) is the one place that knows its type's fields, how
submitted data is checked (``validate``), how it is stored (the ``data`` mapping of the
record schema, unchanged), how it travels on a span (``rlhf.*`` attributes and the GenAI
evaluation names) and reads back from one, which interactions it names (``targets``), its
one-line ``summary``, its 0..1 ``satisfaction`` and what it adds to the statistics
(``stats_add`` / ``stats_remove``). Readers holding stored mappings call these through
:func:`data_class`; a sixth type is one new module and one entry in ``_CLASSES``.

Example::

    data = feedback_data(fb)              # RatingData(rating=4, max_rating=5, ...)
    if isinstance(data, RatingData):
        print(data.rating / data.max_rating)
    data_class("rating").summary(fb.data) # '4/5'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from rlhf_otel.records._data_binary import BinaryData
from rlhf_otel.records._data_comparative import ComparativeData
from rlhf_otel.records._data_multi import MultiDimensionalData
from rlhf_otel.records._data_rating import RatingData
from rlhf_otel.records._data_text import TextData
from rlhf_otel.records._model import Feedback, FeedbackType

if TYPE_CHECKING:
    from rlhf_otel.records._stats import StatsAccumulator

__all__ = [
    "BinaryData",
    "ComparativeData",
    "FeedbackData",
    "MultiDimensionalData",
    "RatingData",
    "TextData",
    "data_class",
    "feedback_data",
    "satisfaction",
    "stats_add",
    "stats_remove",
]

FeedbackData: TypeAlias = (
    BinaryData | RatingData | TextData | MultiDimensionalData | ComparativeData
)
"""The data of one feedback, tagged by its class's ``type``."""

_CLASSES: dict[FeedbackType, type[FeedbackData]] = {
    c.type: c for c in (BinaryData, RatingData, TextData, MultiDimensionalData, ComparativeData)
}


def data_class(ftype: FeedbackType | str) -> type[FeedbackData]:
    """The data class of a feedback type (or of its stored name, ``"rating"``).

    Raises:
        KeyError: no such type.
    """
    return _CLASSES[ftype]  # type: ignore[index]  # a str-valued enum: "rating" finds RATING


def satisfaction(ftype: str, data: Mapping[str, Any]) -> float | None:
    """0..1 satisfaction of a binary (up 1, down 0) or rating feedback; ``None`` otherwise."""
    cls = _CLASSES.get(ftype)  # type: ignore[call-overload]  # a str-valued enum, as above
    return None if cls is None else cls.satisfaction(data)


def stats_add(acc: StatsAccumulator, ftype: str, data: Mapping[str, Any]) -> None:
    """Count a stored feedback ``data`` of type ``ftype`` in ``acc`` (an unknown type adds
    nothing here)."""
    cls = _CLASSES.get(ftype)  # type: ignore[call-overload]  # a str-valued enum, as above
    if cls is not None:
        cls.stats_add(acc, data)


def stats_remove(acc: StatsAccumulator, ftype: str, data: Mapping[str, Any]) -> None:
    """Take back what :func:`stats_add` counted."""
    cls = _CLASSES.get(ftype)  # type: ignore[call-overload]  # a str-valued enum, as above
    if cls is not None:
        cls.stats_remove(acc, data)


def feedback_data(fb: Feedback) -> FeedbackData:
    """A feedback's ``data`` as its type's dataclass.

    Raises:
        KeyError: a field the type requires is missing.
    """
    return _CLASSES[fb.type].from_data(fb.data)
