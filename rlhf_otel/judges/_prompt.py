"""What a judge is asked (messages and the JSON schema of its answer) and what it said."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from rlhf_otel.judges._spec import JudgeSpec
from rlhf_otel.records import Interaction

__all__ = [
    "BadOutput",
    "Verdict",
    "messages",
    "parse_verdict",
    "response_format",
    "schema_size",
    "worst_case",
]

_OUTPUT: Final = (
    "Answer with one JSON object only, as the schema {name} says: your verdict, a short "
    "explanation, and your confidence in the verdict from 0 to 1."
)
_PER_MESSAGE: Final = 16


class BadOutput(ValueError):
    """The judge's answer is not a verdict the rubric allows."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """One answer of the judge: ``value`` is ``pass``/``fail``, a rating, ``{dimension:
    rating}`` or ``A``/``B``/``tie``."""

    value: Any
    explanation: str | None
    confidence: float | None


def _context(it: Interaction) -> str:
    return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in it.context)


def messages(spec: JudgeSpec, items: Sequence[Interaction]) -> list[dict[str, str]]:
    """The chat messages for one judgement: one interaction, or two answers (A, B)."""
    r = spec.rubric
    first = items[0]
    values = {
        "prompt": first.prompt,
        "context": _context(first),
        "criteria": r.criteria,
        "scale_min": str(r.scale[0]),
        "scale_max": str(r.scale[1]),
        "dimensions": ", ".join(r.dimensions),
        "model": first.model or "" if len(items) == 1 else "",
        "response": first.response,
        "response_a": first.response,
        "response_b": items[-1].response,
    }
    system = spec.system + "\n\n" + _OUTPUT.format(name=_schema_name(spec))
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": spec.template.format_map(values)},
    ]


def _schema_name(spec: JudgeSpec) -> str:
    return f"{spec.rubric.type}_verdict"


def _score(spec: JudgeSpec) -> dict[str, Any]:
    lo, hi = spec.rubric.scale
    return {"type": "integer", "minimum": lo, "maximum": hi}


def response_format(spec: JudgeSpec) -> dict[str, Any]:
    """The structured-output ``response_format`` (a strict JSON schema) of the rubric."""
    kind = spec.rubric.type
    verdict: dict[str, Any]
    if kind == "binary":
        verdict = {"verdict": {"type": "string", "enum": ["pass", "fail"]}}
    elif kind == "rating":
        verdict = {"rating": _score(spec)}
    elif kind == "multi_dimensional":
        dims = list(spec.rubric.dimensions)
        verdict = {
            "dimensions": {
                "type": "object",
                "properties": {d: _score(spec) for d in dims},
                "required": dims,
                "additionalProperties": False,
            }
        }
    else:
        verdict = {"preferred": {"type": "string", "enum": ["A", "B", "tie"]}}
    props = {
        **verdict,
        "explanation": {"type": "string"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    }
    return {
        "type": "json_schema",
        "json_schema": {
            "name": _schema_name(spec),
            "strict": True,
            "schema": {
                "type": "object",
                "properties": props,
                "required": list(props),
                "additionalProperties": False,
            },
        },
    }


def worst_case(spec: JudgeSpec, msgs: Sequence[Mapping[str, str]], schema_bytes: int) -> int:
    """An upper bound of the tokens one call can use: every UTF-8 byte of the messages and
    of the response schema (``schema_bytes``; endpoints put it in the prompt) as a token, a
    per-message overhead, and ``max_tokens`` of output."""
    size = sum(len(m["content"].encode("utf-8")) + _PER_MESSAGE for m in msgs)
    return size + schema_bytes + _PER_MESSAGE + spec.endpoint.max_tokens


def schema_size(schema: Mapping[str, Any]) -> int:
    """UTF-8 bytes of the response schema as sent."""
    return len(json.dumps(schema).encode("utf-8"))


def _strip_fence(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text.strip()


def _scored(value: object, spec: JudgeSpec, what: str) -> int | float:
    lo, hi = spec.rubric.scale
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadOutput(f"{what} is not a number: {value!r}")
    if not lo <= value <= hi:
        raise BadOutput(f"{what} {value!r} is outside {lo}..{hi}")
    return int(value) if float(value).is_integer() else float(value)


def parse_verdict(spec: JudgeSpec, content: str | None) -> Verdict:
    """The verdict in the judge's answer.

    Raises:
        BadOutput: not JSON, or a value the rubric does not allow.
    """
    try:
        doc = json.loads(_strip_fence(content or ""))
    except ValueError:
        raise BadOutput("the answer is not JSON") from None
    if not isinstance(doc, dict):
        raise BadOutput("the answer is not a JSON object")
    kind = spec.rubric.type
    value: Any
    if kind == "binary":
        value = doc.get("verdict")
        if value not in ("pass", "fail"):
            raise BadOutput(f"verdict {value!r} is not pass or fail")
    elif kind == "rating":
        value = _scored(doc.get("rating"), spec, "rating")
    elif kind == "multi_dimensional":
        dims = doc.get("dimensions")
        if not isinstance(dims, dict) or set(dims) != set(spec.rubric.dimensions):
            raise BadOutput(f"dimensions must be exactly {', '.join(spec.rubric.dimensions)}")
        value = {d: _scored(dims[d], spec, f"dimension {d}") for d in spec.rubric.dimensions}
    else:
        value = doc.get("preferred")
        if value not in ("A", "B", "tie"):
            raise BadOutput(f"preferred {value!r} is not A, B or tie")
    explanation = doc.get("explanation")
    conf = doc.get("confidence")
    confidence = None
    if isinstance(conf, (int, float)) and not isinstance(conf, bool) and 0 <= conf <= 1:
        confidence = float(conf)
    return Verdict(
        value=value,
        explanation=explanation.strip() or None if isinstance(explanation, str) else None,
        confidence=confidence,
    )
