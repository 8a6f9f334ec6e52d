"""Judge spec files: name, version, endpoint, rubric, prompt, sampling and limits, validated."""

from __future__ import annotations

import math
import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from rlhf_otel._errors import ValidationError
from rlhf_otel._specfile import load_spec_file
from rlhf_otel.review import SELECTION_KEYS as _SELECTION_KEYS
from rlhf_otel.review import Selection, parse_selection

__all__ = [
    "PLACEHOLDERS",
    "Endpoint",
    "JudgeLimits",
    "JudgeRubric",
    "JudgeSpec",
    "Sampling",
    "load_judge",
    "parse_judge",
]

RubricType = Literal["binary", "rating", "multi_dimensional", "pairwise"]

_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_VERSION: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_ENV: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_TOP: Final = ("name", "version", "description", "endpoint", "rubric", "prompt", "sampling",
               "limits")  # fmt: skip
_ENDPOINT: Final = ("base_url", "model", "api_key_env", "timeout", "temperature", "max_tokens",
                    "price")  # fmt: skip
_RUBRIC: Final = ("type", "criteria", "scale", "dimensions")
_PROMPT: Final = ("system", "template")
_LIMITS: Final = ("concurrency", "requests_per_minute", "token_budget", "max_retries", "backoff")
_TYPES: Final = ("binary", "rating", "multi_dimensional", "pairwise")

PLACEHOLDERS: Final = {
    "prompt": "the user's prompt of the judged interaction",
    "response": "the judged answer (not in pairwise templates)",
    "response_a": "pairwise: the answer shown first",
    "response_b": "pairwise: the answer shown second",
    "context": "the messages before the prompt, one 'role: content' line each",
    "model": "the model that gave the judged answer (pairwise: empty)",
    "criteria": "rubric.criteria",
    "scale_min": "bottom of rubric.scale",
    "scale_max": "top of rubric.scale",
    "dimensions": "multi_dimensional: the dimension names, comma-separated",
}
"""The ``{placeholders}`` a prompt template may use (``{{`` and ``}}`` for literal braces)."""

DEFAULT_SYSTEM: Final = (
    "You are a careful, impartial judge of answers given by an AI assistant. "
    "Judge only by the criteria given; do not let answer length or position sway you."
)
DEFAULT_TEMPLATES: Final[Mapping[str, str]] = {
    "binary": (
        "Criteria: {criteria}\n\n<prompt>\n{prompt}\n</prompt>\n\n<answer>\n{response}\n"
        "</answer>\n\nDoes the answer meet the criteria? Verdict pass or fail."
    ),
    "rating": (
        "Criteria: {criteria}\n\n<prompt>\n{prompt}\n</prompt>\n\n<answer>\n{response}\n"
        "</answer>\n\nRate the answer from {scale_min} (worst) to {scale_max} (best)."
    ),
    "multi_dimensional": (
        "Criteria: {criteria}\n\n<prompt>\n{prompt}\n</prompt>\n\n<answer>\n{response}\n"
        "</answer>\n\nRate each of {dimensions} from {scale_min} (worst) to {scale_max} (best)."
    ),
    "pairwise": (
        "Criteria: {criteria}\n\n<prompt>\n{prompt}\n</prompt>\n\n<answer_a>\n{response_a}\n"
        "</answer_a>\n\n<answer_b>\n{response_b}\n</answer_b>\n\n"
        "Which answer meets the criteria better: A, B, or tie?"
    ),
}
MAX_CONCURRENCY: Final = 256
DEFAULT_CRITERIA: Final = "The answer is correct, helpful and safe."


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """Where the judge model runs: any OpenAI-compatible ``/v1`` base URL.

    The API key is read from the environment variable ``api_key_env`` when a run starts;
    it is never stored in the spec or written anywhere. ``price`` (USD per million input
    and output tokens) turns usage into a cost in each verdict's metadata.
    """

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 60.0
    temperature: float | None = 0.0
    max_tokens: int = 512
    price_input: float | None = None
    price_output: float | None = None

    def api_key(self) -> str:
        """The key from ``api_key_env``.

        Raises:
            ValidationError: the variable is unset or empty.
        """
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise ValidationError(
                f"judge endpoint.api_key_env: environment variable {self.api_key_env} is not "
                "set (set it to the endpoint's API key; any non-empty value for a local server)"
            )
        return key


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgeRubric:
    """What the judge gives: ``binary`` (pass/fail), ``rating`` on ``scale``,
    ``multi_dimensional`` (a rating per dimension, weighted), or ``pairwise`` (A, B or tie)."""

    type: RubricType
    criteria: str = DEFAULT_CRITERIA
    scale: tuple[int, int] = (1, 5)
    dimensions: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sampling:
    """Which interactions a run judges: a queue-file selection, then a ``rate`` share
    chosen by a hash of the judge name and the item (the same items on every run)."""

    selection: Selection = field(default_factory=Selection)
    rate: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgeLimits:
    """How hard a run may push the endpoint.

    ``concurrency`` requests in flight at most (default 4); ``requests_per_minute`` in any
    60-second window (``None``: no limit); ``token_budget`` total tokens of the run
    (``None``: none), never exceeded: a request starts only when its worst case fits;
    ``max_retries`` per request on 429/5xx/timeouts (default 4), ``backoff`` the first
    retry's delay in seconds (doubling, jittered, at most 30 s; a Retry-After wins).
    """

    concurrency: int = 4
    requests_per_minute: int | None = None
    token_budget: int | None = None
    max_retries: int = 4
    backoff: float = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgeSpec:
    """A judge (``docs/ai-feedback.md`` documents the file format)."""

    name: str
    version: str
    endpoint: Endpoint
    rubric: JudgeRubric
    system: str = DEFAULT_SYSTEM
    template: str = ""
    sampling: Sampling = field(default_factory=Sampling)
    limits: JudgeLimits = field(default_factory=JudgeLimits)
    description: str = ""

    @property
    def evaluator_id(self) -> str:
        """``name@version``: the ``user_id`` of every verdict of this judge."""
        return f"{self.name}@{self.version}"

    @property
    def pairwise(self) -> bool:
        """Whether items are two answers to compare."""
        return self.rubric.type == "pairwise"


def _fail(where: str, message: str) -> ValidationError:
    return ValidationError(f"judge {where}: {message}")


def _keys(value: object, where: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, f"must be a mapping with keys {', '.join(allowed)}")
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise _fail(
            f"{where}.{unknown[0]}" if where != "file" else str(unknown[0]),
            f"is not a judge field; allowed here: {', '.join(allowed)}",
        )
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


def _number(value: object, where: str, lo: float, hi: float | None = None) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < lo
        or (hi is not None and value > hi)
    ):
        span = f"{lo:g}..{hi:g}" if hi is not None else f">= {lo:g}"
        raise _fail(where, f"must be a number {span}; got {value!r}")
    return float(value)


def _text(value: object, where: str, *, limit: int = 20_000) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _fail(where, f"must be non-empty text of at most {limit:,} characters")
    return value


def _endpoint(raw: object) -> Endpoint:
    if raw is None:
        raise _fail("endpoint", "is required: give endpoint.base_url and endpoint.model")
    d = _keys(raw, "endpoint", _ENDPOINT)
    url = d.get("base_url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _fail("endpoint.base_url", f"must be an http(s) URL such as "
                    f"https://api.openai.com/v1; got {url!r}")  # fmt: skip
    model = d.get("model")
    if not isinstance(model, str) or not model.strip() or len(model) > 256:
        raise _fail("endpoint.model", f"must be a model name; got {model!r}")
    env = d.get("api_key_env", "OPENAI_API_KEY")
    if not isinstance(env, str) or _ENV.fullmatch(env) is None:
        raise _fail(
            "endpoint.api_key_env",
            "must name an environment variable (letters, digits, _), never the key itself",
        )
    temperature = d.get("temperature", 0.0)
    if temperature is not None:
        temperature = _number(temperature, "endpoint.temperature", 0.0, 2.0)
    price_in = price_out = None
    if d.get("price") is not None:
        p = _keys(d["price"], "endpoint.price", ("input", "output"))
        price_in = _number(p.get("input", 0), "endpoint.price.input", 0.0)
        price_out = _number(p.get("output", 0), "endpoint.price.output", 0.0)
    return Endpoint(
        base_url=url.rstrip("/"),
        model=model,
        api_key_env=env,
        timeout=_number(d.get("timeout", 60), "endpoint.timeout", 0.1, 3600),
        temperature=temperature,
        max_tokens=_int(d.get("max_tokens", 512), "endpoint.max_tokens", 16, 100_000),
        price_input=price_in,
        price_output=price_out,
    )


def _dimensions(raw: object) -> dict[str, float]:
    where = "rubric.dimensions"
    if isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        raw = dict.fromkeys(raw, 1.0)
    if not isinstance(raw, Mapping) or not raw or len(raw) > 9:
        raise _fail(where, "must name 1-9 dimensions: a list of names or a mapping to weights")
    dims: dict[str, float] = {}
    for name, weight in raw.items():
        if not isinstance(name, str) or _NAME.fullmatch(name) is None:
            raise _fail(where, f"name {name!r} must be 1-64 of A-Z a-z 0-9 . _ -")
        dims[name] = _number(weight, f"{where}.{name}", 0.0)
    if sum(dims.values()) <= 0:
        raise _fail(where, "weights must not all be zero")
    return dims


def _rubric(raw: object) -> JudgeRubric:
    if raw is None:
        raise _fail("rubric", f"is required: give rubric.type ({', '.join(_TYPES)})")
    d = _keys(raw, "rubric", _RUBRIC)
    kind = d.get("type")
    if kind not in _TYPES:
        raise _fail("rubric.type", f"must be one of {', '.join(_TYPES)}; got {kind!r}")
    criteria = _text(d.get("criteria", DEFAULT_CRITERIA), "rubric.criteria")
    scale = (1, 5)
    if "scale" in d:
        if kind not in ("rating", "multi_dimensional"):
            raise _fail("rubric.scale", "applies to rating and multi_dimensional rubrics only")
        s = _keys(d["scale"], "rubric.scale", ("min", "max"))
        lo = _int(s.get("min", 1), "rubric.scale.min", 0, 100)
        hi = _int(s.get("max", 5), "rubric.scale.max", 0, 100)
        if hi <= lo:
            raise _fail("rubric.scale", f"max ({hi}) must be greater than min ({lo})")
        scale = (lo, hi)
    dims: dict[str, float] = {}
    if kind == "multi_dimensional":
        if "dimensions" not in d:
            raise _fail("rubric.dimensions", "is required for a multi_dimensional rubric")
        dims = _dimensions(d["dimensions"])
    elif "dimensions" in d:
        raise _fail("rubric.dimensions", "applies to multi_dimensional rubrics only")
    return JudgeRubric(type=kind, criteria=criteria, scale=scale, dimensions=dims)


def _template(raw: object, kind: str) -> str:
    where = "prompt.template"
    text = _text(raw, where, limit=50_000) if raw is not None else DEFAULT_TEMPLATES[kind]
    try:
        fields = {f for _, f, _spec, _conv in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise _fail(
            where, f"is not a valid template ({exc}); write {{{{ and }}}} for braces"
        ) from None
    for f in fields:
        if f not in PLACEHOLDERS:
            raise _fail(where, f"{{{f}}} is not a placeholder; allowed: "
                        f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}")  # fmt: skip
    need = ("response_a", "response_b") if kind == "pairwise" else ("response",)
    for f in need:
        if f not in fields:
            raise _fail(where, f"a {kind} template must contain {{{f}}}")
    if kind == "pairwise" and "response" in fields:
        raise _fail(where, "a pairwise template uses {response_a} and {response_b}, not "
                    "{response}")  # fmt: skip
    return text


def _sampling(raw: object, kind: str) -> Sampling:
    d = dict(_keys(raw if raw is not None else {}, "sampling", (*_SELECTION_KEYS, "rate")))
    rate = _number(d.pop("rate", 1.0), "sampling.rate", 0.0, 1.0)
    if rate == 0:
        raise _fail("sampling.rate", "must be above 0 (a share 0 < rate <= 1)")
    selection = parse_selection(d, what="judge", where="sampling")
    if (kind == "pairwise") != selection.pairs:
        raise _fail(
            "sampling.pairs",
            "must be true for a pairwise rubric and false otherwise (pairs are what a "
            "pairwise judge compares)",
        )
    return Sampling(selection=selection, rate=rate)


def _limits(raw: object) -> JudgeLimits:
    d = _keys(raw if raw is not None else {}, "limits", _LIMITS)
    rpm = d.get("requests_per_minute")
    budget = d.get("token_budget")
    return JudgeLimits(
        concurrency=_int(d.get("concurrency", 4), "limits.concurrency", 1, MAX_CONCURRENCY),
        requests_per_minute=None if rpm is None else _int(rpm, "limits.requests_per_minute", 1),
        token_budget=None if budget is None else _int(budget, "limits.token_budget", 1),
        max_retries=_int(d.get("max_retries", 4), "limits.max_retries", 0, 20),
        backoff=_number(d.get("backoff", 0.5), "limits.backoff", 0.0, 60.0),
    )


def parse_judge(raw: object) -> JudgeSpec:
    """A :class:`JudgeSpec` from the parsed file (a mapping).

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
    version = d.get("version")
    if isinstance(version, (int, float)) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or _VERSION.fullmatch(version) is None:
        raise _fail(
            "version",
            f"is required: 1-32 of A-Z a-z 0-9 . _ - (e.g. 1 or 2026-01-a); got {version!r}",
        )
    rubric = _rubric(d.get("rubric"))
    prompt = _keys(d.get("prompt") or {}, "prompt", _PROMPT)
    system = prompt.get("system")
    description = d.get("description", "")
    if not isinstance(description, str):
        raise _fail("description", "must be text")
    return JudgeSpec(
        name=name,
        version=version,
        description=description,
        endpoint=_endpoint(d.get("endpoint")),
        rubric=rubric,
        system=DEFAULT_SYSTEM if system is None else _text(system, "prompt.system"),
        template=_template(prompt.get("template"), rubric.type),
        sampling=_sampling(d.get("sampling"), rubric.type),
        limits=_limits(d.get("limits")),
    )


def load_judge(path: str | os.PathLike[str]) -> JudgeSpec:
    """Read and validate a judge spec file: ``.json``, or YAML (``.yaml``/``.yml``).

    Raises:
        ValidationError: the file is too large or deep, not valid JSON/YAML, or not a
            valid judge spec (the message names the field).
        OSError: the file cannot be read.
    """
    p = Path(path)
    raw = load_spec_file(p, what="judge spec")
    try:
        return parse_judge(raw)
    except ValidationError as exc:
        raise ValidationError(f"{p}: {exc}") from None
