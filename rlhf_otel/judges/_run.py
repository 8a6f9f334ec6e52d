"""A judge run: select, skip what is judged, call concurrently, store verdicts as feedback."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from opentelemetry import context as otel_context

from rlhf_otel._errors import ValidationError
from rlhf_otel._validate import (
    binary_data,
    comparative_data,
    multi_dimensional_data,
    rating_data,
)
from rlhf_otel.judges._call import (
    CallFailed,
    Clock,
    Limiter,
    SystemClock,
    TokenBudget,
    Usage,
    call_judge,
)
from rlhf_otel.judges._prompt import (
    BadOutput,
    Verdict,
    messages,
    parse_verdict,
    response_format,
    schema_size,
    worst_case,
)
from rlhf_otel.judges._spec import JudgeSpec
from rlhf_otel.records import Feedback, FeedbackFilter, FeedbackType, Interaction, utc_now
from rlhf_otel.review import Item, select_items
from rlhf_otel.stores import Store, store_flush

__all__ = ["MODEL_SOURCE", "JudgeRunResult", "arun_judge", "judge_feedback_id", "run_judge"]

MODEL_SOURCE: Final = "model"
"""The ``source`` of every verdict (evaluator type ``model``)."""
ORDERS: Final = ("AB", "BA")
WRITE_BATCH: Final = 32
"""Verdicts handed to the store together (a killed run loses at most these; the next run
judges them again)."""


@dataclass(slots=True, kw_only=True)
class JudgeRunResult:
    """What a run did, counted.

    ``candidates`` items matched the sampling selection, ``sampled`` of them passed the
    rate; each sampled item is ``judged``, ``skipped`` (by reason: ``already_judged``,
    ``token_budget``, ``interaction_not_found``) or ``failed`` (by reason:
    ``rate_limited``, ``server_error``, ``timeout``, ``connection``, ``http_<status>``,
    ``bad_output``). ``stored`` counts feedback records written. Pairwise runs count
    ``pairs`` judged in both orders and ``inconsistent_pairs`` (position bias).
    """

    judge: str
    candidates: int = 0
    sampled: int = 0
    judged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    stored: int = 0
    requests: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    pairs: int = 0
    inconsistent_pairs: int = 0

    @property
    def done(self) -> int:
        """Sampled items accounted for so far."""
        return self.judged + sum(self.skipped.values()) + sum(self.failed.values())

    @property
    def position_bias_rate(self) -> float | None:
        """Share of pairs whose verdict changed with the order (``None`` without pairs)."""
        return self.inconsistent_pairs / self.pairs if self.pairs else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "judge": self.judge,
            "candidates": self.candidates,
            "sampled": self.sampled,
            "judged": self.judged,
            "skipped": dict(sorted(self.skipped.items())),
            "failed": dict(sorted(self.failed.items())),
            "stored": self.stored,
            "requests": self.requests,
            "retries": dict(sorted(self.retries.items())),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "pairs": self.pairs,
            "inconsistent_pairs": self.inconsistent_pairs,
            "position_bias_rate": self.position_bias_rate,
        }


def judge_feedback_id(spec: JudgeSpec, item_key: str, order: str = "") -> str:
    """The id of a verdict: from the judge's name, version, the item and (pairs) the order,
    so a rerun writes the same ids and skips what is stored."""
    h = hashlib.blake2b(
        f"{spec.name}\0{spec.version}\0{item_key}\0{order}".encode(), digest_size=16
    )
    return f"judge-{h.hexdigest()}"


def _sampled(spec: JudgeSpec, item: Item) -> bool:
    rate = spec.sampling.rate
    if rate >= 1.0:
        return True
    h = hashlib.blake2b(f"{spec.name}\0{item.key}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64 < rate


def _require_openai() -> Any:
    try:
        import openai
    except ImportError:
        raise ImportError(
            "judges call models through the openai package: pip install 'rlhf-otel[judges]'"
        ) from None
    return openai


@dataclass(slots=True)
class _Work:
    item: Item
    interactions: tuple[Interaction, ...]
    ids: tuple[str, ...]


class _Runner:
    def __init__(
        self,
        spec: JudgeSpec,
        store: Store,
        client: Any,
        clock: Clock,
        result: JudgeRunResult,
        progress: Callable[[JudgeRunResult], None] | None,
        stored: frozenset[str],
    ) -> None:
        self._stored = stored
        self.spec = spec
        self.store = store
        self.client = client
        self.clock = clock
        self.result = result
        self.progress = progress
        self.limiter = Limiter(spec.limits.requests_per_minute, clock)
        self.budget = TokenBudget(spec.limits.token_budget)
        self.counts: Counter[str] = Counter()
        self.response_format = response_format(spec)
        self.schema_bytes = schema_size(self.response_format)
        self.pending: list[Feedback] = []

    async def worker(self, queue: deque[_Work]) -> None:
        while queue:
            work = queue.popleft()
            await self.judge(work)
            if self.progress is not None:
                self.progress(self.result)

    def _tally(self) -> None:
        r = self.result
        r.requests = self.counts["requests"]
        r.retries = Counter(
            {k[6:]: v for k, v in self.counts.items() if k.startswith("retry:") and v}
        )

    async def judge(self, work: _Work) -> None:
        spec, r = self.spec, self.result
        its = work.interactions
        orders = [its, its[::-1]] if spec.pairwise else [its]
        asks = [messages(spec, o) for o in orders]
        costs = [worst_case(spec, m, self.schema_bytes) for m in asks]
        # both orders of a pair are reserved together: a pair is judged whole or not at all
        if not self.budget.reserve(sum(costs)):
            r.skipped["token_budget"] += 1
            return
        verdicts: list[tuple[Verdict, Usage]] = []
        try:
            for i, (msgs, cost) in enumerate(zip(asks, costs, strict=True)):
                try:
                    text, usage = await call_judge(
                        self.client, spec, msgs, self.response_format, limiter=self.limiter,
                        budget=self.budget, reserve=cost, clock=self.clock, counts=self.counts,
                    )  # fmt: skip
                except BaseException:
                    self.budget.settle(sum(costs[i + 1 :]), 0)
                    raise
                r.input_tokens += usage.input_tokens
                r.output_tokens += usage.output_tokens
                try:
                    verdicts.append((parse_verdict(spec, text), usage))
                except BadOutput:
                    self.budget.settle(sum(costs[i + 1 :]), 0)
                    r.failed["bad_output"] += 1
                    return
        except CallFailed as exc:
            r.failed[exc.reason] += 1
            return
        finally:
            self._tally()
        records = self._records(work, verdicts)
        if records:
            self.pending.extend(records)
            if len(self.pending) >= WRITE_BATCH:
                self.write_pending()
        r.judged += 1
        for _, usage in verdicts:
            spent = self._cost(usage)
            if spent is not None:
                r.cost_usd = (r.cost_usd or 0.0) + spent

    def write_pending(self) -> None:
        """Hand the verdicts judged so far to the store (one batch)."""
        batch, self.pending = self.pending, []
        if batch:
            self.store.write([], batch)
            self.result.stored += len(batch)

    def _cost(self, usage: Usage) -> float | None:
        ep = self.spec.endpoint
        if ep.price_input is None and ep.price_output is None:
            return None
        return (
            usage.input_tokens * (ep.price_input or 0.0)
            + usage.output_tokens * (ep.price_output or 0.0)
        ) / 1_000_000

    def _meta(self, work: _Work, v: Verdict, usage: Usage) -> dict[str, Any]:
        spec = self.spec
        meta: dict[str, Any] = {
            "judge": spec.name,
            "judge_version": spec.version,
            "judge_model": spec.endpoint.model,
            "item": work.item.key,
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": usage.total,
            },
        }
        cost = self._cost(usage)
        if cost is not None:
            meta["cost_usd"] = cost
        if v.confidence is not None:
            meta["confidence"] = v.confidence
        return meta

    def _records(self, work: _Work, verdicts: Sequence[tuple[Verdict, Usage]]) -> list[Feedback]:
        spec = self.spec
        stored = self._stored
        now = utc_now()
        out: list[Feedback] = []
        if spec.pairwise:
            a, b = work.interactions
            winners = []
            for (v, _), (x, y) in zip(verdicts, ((a, b), (b, a)), strict=True):
                winners.append("tie" if v.value == "tie" else (x if v.value == "A" else y).id)
            consistent = winners[0] == winners[1]
            self.result.pairs += 1
            if not consistent:
                self.result.inconsistent_pairs += 1
            for order, (v, usage), (x, y), fid in zip(
                ORDERS, verdicts, ((a, b), (b, a)), work.ids, strict=True
            ):
                if fid in stored:
                    continue
                first, second = (y, x) if v.value == "B" else (x, y)
                data = comparative_data(
                    first.id, [second.id], v.explanation, v.confidence,
                    "tie" if v.value == "tie" else "preferred",
                )  # fmt: skip
                meta = self._meta(work, v, usage)
                meta.update(
                    order=order,
                    shown_first=x.id,
                    consistent=consistent,
                    pair_verdict=winners[0] if consistent else "inconsistent",
                )
                out.append(self._feedback(fid, FeedbackType.COMPARATIVE, data, meta, now,
                                          (first.id, second.id)))  # fmt: skip
            return out
        (v, usage), (it,), (fid,) = verdicts[0], work.interactions, work.ids
        meta = self._meta(work, v, usage)
        kind = spec.rubric.type
        lo, hi = spec.rubric.scale
        if kind == "binary":
            ftype, data = FeedbackType.BINARY, binary_data(v.value == "pass")
            if v.explanation:
                meta["explanation"] = v.explanation
        elif kind == "rating":
            ftype, data = FeedbackType.RATING, rating_data(v.value, v.explanation, hi, lo)
        else:
            ftype = FeedbackType.MULTI_DIMENSIONAL
            data = multi_dimensional_data(v.value, dict(spec.rubric.dimensions), v.explanation)
            meta["scale"] = [lo, hi]
        return [self._feedback(fid, ftype, data, meta, now, (it.id,))]

    def _feedback(
        self,
        fid: str,
        ftype: FeedbackType,
        data: dict[str, Any],
        meta: dict[str, Any],
        now: Any,
        targets: tuple[str, ...],
    ) -> Feedback:
        return Feedback(
            id=fid,
            interaction_id=targets[0],
            type=ftype,
            data=data,
            timestamp=now,
            user_id=self.spec.evaluator_id,
            source=MODEL_SOURCE,
            metadata=meta,
            target_ids=targets if len(targets) > 1 else (),
        )


def _plan(spec: JudgeSpec, store: Store, result: JudgeRunResult) -> tuple[list[_Work], set[str]]:
    items = select_items(store, spec.sampling.selection)
    result.candidates = len(items)
    items = [it for it in items if _sampled(spec, it)]
    result.sampled = len(items)
    stored = {
        fb.id
        for fb in store.scan_feedback(
            FeedbackFilter(source=MODEL_SOURCE, user_id=spec.evaluator_id)
        )
    }
    orders = ORDERS if spec.pairwise else ("",)
    todo: list[tuple[Item, tuple[str, ...]]] = []
    for item in items:
        ids = tuple(judge_feedback_id(spec, item.key, o) for o in orders)
        if all(i in stored for i in ids):
            result.skipped["already_judged"] += 1
        else:
            todo.append((item, ids))
    wanted = {i for item, _ in todo for i in item.interaction_ids}
    found: dict[str, Interaction] = {}
    if wanted:
        for it in store.scan_interactions():
            if it.id in wanted and it.id not in found:
                found[it.id] = it
    work: list[_Work] = []
    for item, ids in todo:
        its = tuple(found.get(i) for i in item.interaction_ids)
        if any(it is None for it in its):
            result.skipped["interaction_not_found"] += 1
            continue
        work.append(_Work(item, tuple(it for it in its if it is not None), ids))
    return work, stored


def _suppressed() -> object:
    ctx = otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True)
    try:
        from opentelemetry.instrumentation import utils
    except ImportError:
        pass
    else:  # HTTP client instrumentations (httpx, aiohttp) check a key of their own
        key = getattr(utils, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None)
        if key is not None:
            ctx = otel_context.set_value(key, True, ctx)
    return otel_context.attach(ctx)


async def arun_judge(
    spec: JudgeSpec,
    store: Store,
    *,
    client: Any = None,
    progress: Callable[[JudgeRunResult], None] | None = None,
    clock: Clock | None = None,
) -> JudgeRunResult:
    """Judge the interactions ``spec`` samples from ``store`` and store the verdicts.

    Verdicts are feedback with ``source="model"`` (evaluator type ``model``),
    ``user_id=spec.evaluator_id`` and deterministic ids, written to ``store`` in batches
    of 32 as they come (and at the end, or when interrupted); items whose verdicts are
    stored already are skipped before any call, so a rerun continues where a stopped run
    ended (a killed run loses at most its last batch) and stores nothing twice. OpenTelemetry
    instrumentation is suppressed around the judge's calls, so they are never recorded as
    interactions of the product.

    Args:
        spec: the judge.
        store: where the interactions are read and the verdicts written.
        client: an ``openai.AsyncOpenAI`` to call through (default: one for
            ``spec.endpoint``, with the key from its environment variable and the client's
            own retries off: the run retries itself).
        progress: called with the running counts after each item.
        clock: time for the request window and backoff (default: the system's).

    Raises:
        ValidationError: the endpoint's key variable is unset.
        ImportError: the ``openai`` package is missing.
    """
    openai = _require_openai()
    result = JudgeRunResult(judge=spec.evaluator_id)
    own = client is None
    if own:
        client = openai.AsyncOpenAI(
            base_url=spec.endpoint.base_url,
            api_key=spec.endpoint.api_key(),
            max_retries=0,
            timeout=spec.endpoint.timeout,
        )
    token = _suppressed()
    try:
        work, stored = _plan(spec, store, result)
        runner = _Runner(
            spec, store, client, clock or SystemClock(), result, progress, frozenset(stored)
        )
        queue = deque(work)
        if progress is not None:
            progress(result)
        workers = [runner.worker(queue) for _ in range(min(spec.limits.concurrency, len(work)))]
        try:
            await asyncio.gather(*workers)
        finally:
            runner.write_pending()  # also after an interruption: what was judged is kept
    finally:
        otel_context.detach(token)  # type: ignore[arg-type]
        if own:
            await client.close()
        store_flush(store)
    return result


def run_judge(
    spec: JudgeSpec,
    store: Store,
    *,
    client: Any = None,
    progress: Callable[[JudgeRunResult], None] | None = None,
) -> JudgeRunResult:
    """:func:`arun_judge` from synchronous code (runs its own event loop).

    Raises:
        ValidationError: the endpoint's key variable is unset.
        ImportError: the ``openai`` package is missing.
    """
    if client is not None and not hasattr(client, "chat"):
        raise ValidationError("client must be an openai.AsyncOpenAI")
    return asyncio.run(arun_judge(spec, store, client=client, progress=progress))
