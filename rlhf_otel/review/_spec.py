"""Queue files: what a review queue selects, who reviews it, and the rubric, validated."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from rlhf_otel._errors import ValidationError
from rlhf_otel._specfile import load_spec_file
from rlhf_otel.records import FeedbackType, parse_timestamp
from rlhf_otel.review._judge_terms import judge_terms

__all__ = [
    "SELECTION_KEYS",
    "Guide",
    "QueueSpec",
    "Rubric",
    "Selection",
    "default_queue",
    "load_queue",
    "parse_queue",
    "parse_selection",
]

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TOP: Final = (
    "name", "guidelines", "selection", "reviewers_per_item", "blind", "lease_timeout", "rubric",
)  # fmt: skip
_SELECTION: Final = (
    "no_feedback", "thumbs_down", "rating_at_most", "model", "models", "since", "until",
    "sample", "seed", "pairs", "judge_disagrees", "judge_uncertain", "judge_only", "judge",
)  # fmt: skip
SELECTION_KEYS: Final = _SELECTION
"""The keys of a selection (queue files' ``selection``, judge specs' ``sampling``)."""
_RUBRIC: Final = ("types", "dimensions", "scale", "guide")
_GUIDE_ITEM: Final = ("description", "scores")
MAX_GUIDELINES_CHARS: Final = 20_000
MAX_GUIDE_CHARS: Final = 2_000
_TYPES: Final = tuple(t.value for t in FeedbackType)
MAX_REVIEWERS_PER_ITEM: Final = 20
MAX_LEASE_SECONDS: Final = 86_400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """Which interactions a queue holds; every set condition must hold.

    Feedback from the review app itself (``source="review"``) never counts here, so a
    queue selects the same items before and after it is reviewed; ``no_feedback``,
    ``thumbs_down`` and ``rating_at_most`` look at people's feedback only (a judge's
    verdicts, evaluator type ``model``, do not count). The judge conditions compare the
    verdicts of model evaluators (``judge``: only this judge, ``name`` or
    ``name@version``) with people's feedback on the same interaction:
    ``judge_disagrees`` (they differ), ``judge_uncertain`` (a verdict's confidence is
    below this share, or a pairwise verdict changed with the order) and ``judge_only``
    (a verdict and no feedback from people yet).
    """

    no_feedback: bool = False
    thumbs_down: bool = False
    rating_at_most: float | None = None
    models: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    sample: int | None = None
    seed: int = 0
    pairs: bool = False
    judge_disagrees: bool = False
    judge_uncertain: float | None = None
    judge_only: bool = False
    judge: str | None = None

    @property
    def needs_judge(self) -> bool:
        """Whether a judge condition is set."""
        return self.judge_disagrees or self.judge_uncertain is not None or self.judge_only


@dataclass(frozen=True, slots=True, kw_only=True)
class Rubric:
    """What a reviewer gives each item: feedback types, weighted dimensions, rating scale."""

    types: tuple[str, ...]
    dimensions: Mapping[str, float] = field(default_factory=dict)
    scale: tuple[int, int] = (1, 5)
    guide: Mapping[str, Guide] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Guide:
    """What one rubric item asks (``description``) and what each score means (``scores``)."""

    description: str = ""
    scores: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSpec:
    """A review queue (``docs/review.md`` documents the file format)."""

    name: str
    selection: Selection
    rubric: Rubric
    reviewers_per_item: int = 1
    blind: bool = False
    lease_timeout: float = 600.0
    guidelines: str = ""

    @property
    def pairwise(self) -> bool:
        """Whether items are two answers to compare (the arena view)."""
        return self.selection.pairs

    def to_dict(self) -> dict[str, Any]:
        """The plain form the app sends to the browser."""
        s = self.selection
        return {
            "name": self.name,
            "guidelines": self.guidelines,
            "pairwise": self.pairwise,
            "reviewers_per_item": self.reviewers_per_item,
            "blind": self.blind,
            "lease_timeout": self.lease_timeout,
            "rubric": {
                "types": list(self.rubric.types),
                "dimensions": dict(self.rubric.dimensions),
                "scale": {"min": self.rubric.scale[0], "max": self.rubric.scale[1]},
                "guide": {
                    k: {
                        "description": g.description,
                        "scores": {str(v): m for v, m in sorted(g.scores.items())},
                    }
                    for k, g in self.rubric.guide.items()
                },
            },
            "selection": {
                "no_feedback": s.no_feedback,
                "thumbs_down": s.thumbs_down,
                "rating_at_most": s.rating_at_most,
                "models": list(s.models),
                "since": None if s.since is None else s.since.isoformat(),
                "until": None if s.until is None else s.until.isoformat(),
                "sample": s.sample,
                "seed": s.seed,
                "pairs": s.pairs,
                "judge_disagrees": s.judge_disagrees,
                "judge_uncertain": s.judge_uncertain,
                "judge_only": s.judge_only,
                "judge": s.judge,
            },
        }


def _fail(where: str, message: str) -> ValidationError:
    return ValidationError(f"queue {where}: {message}")


def _keys(value: object, where: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, f"must be a mapping with keys {', '.join(allowed)}")
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise _fail(
            f"{where}.{unknown[0]}" if where != "file" else str(unknown[0]),
            f"is not a queue field; allowed here: {', '.join(allowed)}",
        )
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, f"must be true or false; got {value!r}")
    return value


def _int(value: object, where: str, lo: int, hi: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < lo
        or (hi is not None and value > hi)
    ):
        span = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise _fail(where, f"must be a whole number {span}; got {value!r}")
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(where, f"must be a finite number; got {value!r}")
    return float(value)


def _time(value: object, where: str) -> datetime:
    if isinstance(value, datetime):
        return parse_timestamp(value.isoformat())
    if not isinstance(value, str):
        raise _fail(where, f"must be an ISO-8601 time such as 2026-01-31T00:00:00Z; got {value!r}")
    try:
        return parse_timestamp(value)
    except ValueError:
        raise _fail(
            where, f"must be an ISO-8601 time such as 2026-01-31T00:00:00Z; got {value!r}"
        ) from None


def _selection(raw: object) -> Selection:
    d = _keys(raw if raw is not None else {}, "selection", _SELECTION)
    models: list[str] = []
    if "model" in d and "models" in d:
        raise _fail("selection.model", "give either model or models, not both")
    if "model" in d:
        if not isinstance(d["model"], str) or not d["model"]:
            raise _fail("selection.model", f"must be a model name; got {d['model']!r}")
        models = [d["model"]]
    if "models" in d:
        raw_models = d["models"]
        if (
            not isinstance(raw_models, list)
            or not raw_models
            or not all(isinstance(m, str) and m for m in raw_models)
        ):
            raise _fail(
                "selection.models", f"must be a non-empty list of model names; got {raw_models!r}"
            )
        models = list(raw_models)
    no_feedback = _bool(d.get("no_feedback", False), "selection.no_feedback")
    thumbs_down = _bool(d.get("thumbs_down", False), "selection.thumbs_down")
    rating_at_most = (
        None if d.get("rating_at_most") is None
        else _number(d["rating_at_most"], "selection.rating_at_most")
    )  # fmt: skip
    if no_feedback and (thumbs_down or rating_at_most is not None):
        raise _fail(
            "selection.no_feedback",
            "cannot be combined with thumbs_down or rating_at_most (those need feedback)",
        )
    since = None if d.get("since") is None else _time(d["since"], "selection.since")
    until = None if d.get("until") is None else _time(d["until"], "selection.until")
    if since is not None and until is not None and since > until:
        raise _fail("selection.since", "is after selection.until")
    sample = None if d.get("sample") is None else _int(d["sample"], "selection.sample", 1)
    seed = _int(d.get("seed", 0), "selection.seed", 0)
    terms = judge_terms(
        d, no_feedback=no_feedback, needs_people=thumbs_down or rating_at_most is not None
    )
    return Selection(
        judge_disagrees=terms.disagrees,
        judge_uncertain=terms.uncertain,
        judge_only=terms.only,
        judge=terms.judge,
        no_feedback=no_feedback,
        thumbs_down=thumbs_down,
        rating_at_most=rating_at_most,
        models=tuple(models),
        since=since,
        until=until,
        sample=sample,
        seed=seed,
        pairs=_bool(d.get("pairs", False), "selection.pairs"),
    )


def parse_selection(raw: object, *, what: str = "queue", where: str = "selection") -> Selection:
    """A :class:`Selection` from its mapping; errors name ``{what} {where}.<field>``."""
    try:
        return _selection(raw)
    except ValidationError as exc:
        if (what, where) == ("queue", "selection"):
            raise
        text = str(exc).replace("queue selection", f"{what} {where}", 1)
        raise ValidationError(text.replace("selection.", f"{where}.")) from None


def _dimensions(raw: object) -> dict[str, float]:
    where = "rubric.dimensions"
    if isinstance(raw, list):
        raw = {name: 1 for name in raw} if all(isinstance(n, str) for n in raw) else raw
    if not isinstance(raw, Mapping) or not raw:
        raise _fail(
            where, "must be a non-empty mapping of dimension name to weight, or a list of names"
        )
    dims: dict[str, float] = {}
    for name, weight in raw.items():
        if not isinstance(name, str) or _NAME.fullmatch(name) is None:
            raise _fail(
                where,
                f"name {name!r} must be 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit",
            )
        w = _number(weight, f"{where}.{name}")
        if w < 0:
            raise _fail(f"{where}.{name}", f"weight must be >= 0; got {w:g}")
        dims[name] = w
    if sum(dims.values()) <= 0:
        raise _fail(where, "weights must not all be zero")
    if len(dims) > 9:
        raise _fail(where, f"at most 9 dimensions (one key each); got {len(dims)}")
    return dims


def _rubric(raw: object, pairs: bool) -> Rubric:
    if raw is None:
        raise _fail(
            "rubric",
            "is required: give rubric.types (binary, rating, text, multi_dimensional, comparative)",
        )
    d = _keys(raw, "rubric", _RUBRIC)
    types = d.get("types")
    if not isinstance(types, list) or not types:
        raise _fail(
            "rubric.types",
            f"must be a non-empty list of feedback types; allowed: {', '.join(_TYPES)}",
        )
    for t in types:
        if t not in _TYPES:
            raise _fail(
                "rubric.types", f"{t!r} is not a feedback type; allowed: {', '.join(_TYPES)}"
            )
    if len(set(types)) != len(types):
        raise _fail("rubric.types", "must not repeat a type")
    if pairs and "comparative" not in types:
        raise _fail("rubric.types", "a pairs queue needs comparative (the A/B vote)")
    if pairs and set(types) - {"comparative", "text"}:
        raise _fail("rubric.types", "a pairs queue allows comparative and text only")
    if not pairs and "comparative" in types:
        raise _fail("rubric.types", "comparative needs selection.pairs: true")
    dims: dict[str, float] = {}
    if "multi_dimensional" in types:
        if "dimensions" not in d:
            raise _fail("rubric.dimensions", "is required when types include multi_dimensional")
        dims = _dimensions(d["dimensions"])
    elif "dimensions" in d:
        raise _fail("rubric.dimensions", "needs multi_dimensional in rubric.types")
    scale = (1, 5)
    if "scale" in d:
        s = _keys(d["scale"], "rubric.scale", ("min", "max"))
        lo = _int(s.get("min", 1), "rubric.scale.min", 0, 9)
        hi = _int(s.get("max", 5), "rubric.scale.max", 0, 9)
        if hi <= lo:
            raise _fail("rubric.scale", f"max ({hi}) must be greater than min ({lo})")
        scale = (lo, hi)
    guide = _guide(d.get("guide"), types, dims, scale)
    return Rubric(types=tuple(types), dimensions=dims, scale=scale, guide=guide)


def _text(value: object, where: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise _fail(where, f"must be text (Markdown) of at most {limit} characters")
    return value


def _guide(
    raw: object, types: list[str], dims: Mapping[str, float], scale: tuple[int, int]
) -> dict[str, Guide]:
    """Per rubric item: its description and the meaning of each score."""
    if raw is None:
        return {}
    items = [t for t in types if t not in ("multi_dimensional",)] + list(dims)
    d = _keys(raw, "rubric.guide", tuple(items))
    out: dict[str, Guide] = {}
    for name, entry in d.items():
        where = f"rubric.guide.{name}"
        if isinstance(entry, str):
            out[name] = Guide(description=_text(entry, where, MAX_GUIDE_CHARS))
            continue
        e = _keys(entry, where, _GUIDE_ITEM)
        scores: dict[int, str] = {}
        raw_scores = e.get("scores") or {}
        if not isinstance(raw_scores, Mapping):
            raise _fail(f"{where}.scores", "must map a score to what it means")
        if raw_scores and (name in ("binary", "comparative", "text")):
            raise _fail(f"{where}.scores", "only ratings and dimensions have scores")
        for value, meaning in raw_scores.items():
            try:
                v = int(value)
            except (TypeError, ValueError):
                v = scale[0] - 1
            if not scale[0] <= v <= scale[1] or str(v) != str(value).strip():
                raise _fail(
                    f"{where}.scores",
                    f"score {value!r} is not on the scale {scale[0]}..{scale[1]}",
                )
            scores[v] = _text(meaning, f"{where}.scores.{v}", MAX_GUIDE_CHARS)
        out[name] = Guide(
            description=_text(e.get("description", ""), f"{where}.description", MAX_GUIDE_CHARS),
            scores=scores,
        )
    return out


def parse_queue(raw: object) -> QueueSpec:
    """A :class:`QueueSpec` from the parsed file (a mapping).

    Raises:
        ValidationError: an unknown field, a missing or bad value; the message names the
            field and what is allowed.
    """
    d = _keys(raw, "file", _TOP)
    name = d.get("name")
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise _fail(
            "name",
            f"must be 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit; got {name!r}",
        )
    selection = _selection(d.get("selection"))
    timeout = _number(d.get("lease_timeout", 600), "lease_timeout")
    if not 1 <= timeout <= MAX_LEASE_SECONDS:
        raise _fail("lease_timeout", f"must be 1..{MAX_LEASE_SECONDS:g} seconds; got {timeout:g}")
    return QueueSpec(
        name=name,
        selection=selection,
        rubric=_rubric(d.get("rubric"), selection.pairs),
        reviewers_per_item=_int(
            d.get("reviewers_per_item", 1), "reviewers_per_item", 1, MAX_REVIEWERS_PER_ITEM
        ),
        blind=_bool(d.get("blind", False), "blind"),
        lease_timeout=timeout,
        guidelines=_text(d.get("guidelines", ""), "guidelines", MAX_GUIDELINES_CHARS),
    )


def load_queue(path: str | Path) -> QueueSpec:
    """Read and validate a queue file: ``.json``, or YAML (``.yaml``/``.yml``, needs PyYAML).

    Raises:
        ValidationError: the file is too large (256 KiB), nests deeper than 64 levels,
            expands (YAML aliases) to more than 100,000 values, is not valid JSON/YAML, or
            is not a valid queue; the message is one line.
        OSError: the file cannot be read.
    """
    p = Path(path)
    raw = load_spec_file(p, what="queue file")
    try:
        return parse_queue(raw)
    except ValidationError as exc:
        message = " ".join(f"{p}: {exc}".split())
        raise ValidationError(message if len(message) <= 500 else message[:499] + "…") from None


def default_queue() -> QueueSpec:
    """The queue served without ``--queue``: answers with no feedback yet, one reviewer
    each, thumbs, a 1-5 rating and a comment or correction."""
    return parse_queue(
        {
            "name": "default",
            "guidelines": DEFAULT_GUIDELINES,
            "selection": {"no_feedback": True},
            "rubric": {
                "types": ["binary", "rating", "text"],
                "guide": DEFAULT_GUIDE,
            },
        }
    )


DEFAULT_GUIDELINES: Final = """\
Read the prompt (and the conversation before it), then judge the **answer** as the person who
asked would: is it correct, does it answer what was asked, is it safe and clear?

- Thumbs up only when you would be happy to get this answer yourself.
- Rate on the scale below; use the middle when it is partly right.
- Write the better answer (key `E`) when you can fix it: corrections become training data.
- Skip (key `S`) with a reason when you cannot judge it (e.g. needs expert knowledge).
"""

DEFAULT_GUIDE: Final = {
    "binary": {"description": "Would you be happy to get this answer? Up: yes. Down: no."},
    "rating": {
        "description": "Overall quality of the answer for this prompt.",
        "scores": {
            1: "wrong or harmful",
            2: "mostly wrong or unhelpful",
            3: "partly right; important gaps",
            4: "right, minor issues",
            5: "right, complete and clear",
        },
    },
    "text": {"description": "Optional: what is wrong, or a better answer (E)."},
}
