"""Judge runs against the local judge server: counts, resumption, limits, faults, pairs."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rlhf_otel_instrumentation.openai import OpenAIInstrumentor

from rlhf_otel import RLHFLogger
from rlhf_otel.judges import arun_judge, judge_feedback_id, run_judge
from rlhf_otel.records import FeedbackFilter, FeedbackType
from rlhf_otel.stores import MemoryStore
from tests.judges.conftest import answers, make_spec, pairs, store_of
from tests.servers.judge_server import JudgeServer, expected
from tests.servers.openai_server import OpenAIServer

BINARY: dict[str, Any] = {"properties": {"verdict": {}}}


def _verdicts(store: MemoryStore) -> list[Any]:
    return list(store.scan_feedback(FeedbackFilter(source="model")))


def test_every_selected_interaction_is_judged_once(judge_server: JudgeServer) -> None:
    """30 interactions: 30 calls, 30 verdicts with deterministic ids and the server's values."""
    its = answers(30)
    store = store_of(its)
    spec = make_spec(judge_server.base_url)
    result = run_judge(spec, store)
    assert (result.sampled, result.judged, result.stored) == (30, 30, 30)
    assert dict(result.skipped) == {}
    assert dict(result.failed) == {}
    assert judge_server.answered == 30
    fbs = _verdicts(store)
    assert sorted(fb.id for fb in fbs) == sorted(judge_feedback_id(spec, it.id) for it in its)
    by_target = {fb.interaction_id: fb for fb in fbs}
    for it in its:
        fb = by_target[it.id]
        want = expected(BINARY, it.response)["verdict"]
        assert fb.data["value"] == ("thumbs_up" if want == "pass" else "thumbs_down")
        assert (fb.user_id, fb.source, fb.type) == ("helpful@1", "model", FeedbackType.BINARY)
        assert fb.metadata["usage"]["total_tokens"] > 0
        assert 0.5 <= fb.metadata["confidence"] < 1.0
        assert fb.metadata["explanation"].startswith("judged ")
    assert result.input_tokens + result.output_tokens == judge_server.tokens


def test_rerun_stores_nothing_twice_and_calls_nothing(judge_server: JudgeServer) -> None:
    """A second run skips every judged item before calling: 0 requests, 0 records."""
    store = store_of(answers(12))
    spec = make_spec(judge_server.base_url)
    run_judge(spec, store)
    before = judge_server.requests
    again = run_judge(spec, store)
    assert (again.judged, again.stored, dict(again.skipped)) == (0, 0, {"already_judged": 12})
    assert judge_server.requests == before
    assert len(_verdicts(store)) == 12


def test_new_version_judges_again(judge_server: JudgeServer) -> None:
    """A new version is a new evaluator: its verdicts get new ids beside the old ones."""
    store = store_of(answers(5))
    run_judge(make_spec(judge_server.base_url), store)
    result = run_judge(make_spec(judge_server.base_url, version="2"), store)
    assert result.judged == 5
    assert sorted({fb.user_id for fb in _verdicts(store)}) == ["helpful@1", "helpful@2"]


def test_rating_and_dimension_rubrics_store_their_feedback_types(
    judge_server: JudgeServer,
) -> None:
    """Ratings keep the scale and the explanation as comment; dimensions keep the weights."""
    its = answers(4, marks=["JUDGE=2", "JUDGE=4", "JUDGE=1", "JUDGE=3"])
    store = store_of(its)
    rubric = {"type": "rating", "scale": {"min": 1, "max": 4}}
    run_judge(make_spec(judge_server.base_url, rubric=rubric), store)
    got = {fb.interaction_id: fb.data for fb in _verdicts(store)}
    assert [got[it.id]["rating"] for it in its] == [2, 4, 1, 3]
    assert {(d["min_rating"], d["max_rating"]) for d in got.values()} == {(1, 4)}
    assert all(d["comment"].startswith("judged ") for d in got.values())
    store2 = store_of(its)
    dims = {"type": "multi_dimensional", "dimensions": {"accuracy": 2, "tone": 1}}
    run_judge(make_spec(judge_server.base_url, rubric=dims), store2)
    fbs = _verdicts(store2)
    assert {fb.type for fb in fbs} == {FeedbackType.MULTI_DIMENSIONAL}
    first = next(fb for fb in fbs if fb.interaction_id == its[0].id)
    assert first.data["dimensions"] == {"accuracy": 2, "tone": 2}
    assert first.data["weights"] == {"accuracy": 2, "tone": 1}


def test_faults_are_retried_and_counted() -> None:
    """429, 500 and a timeout before each verdict: every item judged, every retry counted."""
    with JudgeServer(mode="faulty", faults=("429", "500", "timeout"), hang_seconds=8) as srv:
        store = store_of(answers(6))
        endpoint = {"base_url": srv.base_url, "model": "j", "api_key_env": "JUDGE_TEST_KEY",
                    "timeout": 2}  # fmt: skip
        spec = make_spec(srv.base_url, endpoint=endpoint,
                         limits={"concurrency": 6, "backoff": 0.01})  # fmt: skip
        result = run_judge(spec, store)
        assert (result.judged, dict(result.failed)) == (6, {})
        assert dict(result.retries) == {"rate_limited": 6, "server_error": 6, "timeout": 6}
        assert result.requests == 24
        assert srv.requests == 24
        assert len(_verdicts(store)) == 6


def test_retries_run_out_into_failed_counts() -> None:
    """With 1 retry, a 429 then a 500 fails each item (counted); the next run judges them."""
    with JudgeServer(mode="faulty", faults=("429", "500", "500")) as srv:
        store = store_of(answers(5))
        spec = make_spec(srv.base_url, limits={"max_retries": 1, "backoff": 0.01})
        result = run_judge(spec, store)
        assert (result.judged, dict(result.failed)) == (0, {"server_error": 5})
        assert srv.requests == 10
        assert _verdicts(store) == []
        again = run_judge(spec, store)  # a 500, then the verdict
        assert (again.judged, dict(again.failed), srv.requests) == (5, {}, 20)
        assert len(_verdicts(store)) == 5


def test_token_budget_is_never_exceeded(judge_server: JudgeServer) -> None:
    """A budget that fits part of the run: tokens counted at the server stay within it."""
    store = store_of(answers(20))
    budget = 2500
    spec = make_spec(judge_server.base_url, limits={"concurrency": 4, "token_budget": budget})
    result = run_judge(spec, store)
    assert 0 < result.judged < 20
    assert result.judged + result.skipped["token_budget"] == 20
    assert judge_server.tokens <= budget
    assert judge_server.answered == result.judged
    assert result.input_tokens + result.output_tokens == judge_server.tokens


class _VirtualClock:
    """Simulated time: sleeping advances it at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


def test_requests_per_minute_hold_in_every_window(judge_server: JudgeServer) -> None:
    """rpm 5 over 12 items: the server gets 12 requests, at most 5 in any simulated minute."""
    store = store_of(answers(12))
    spec = make_spec(judge_server.base_url, limits={"concurrency": 4, "requests_per_minute": 5})
    clock = _VirtualClock()
    sent: list[float] = []

    async def on_request(request: httpx.Request) -> None:
        sent.append(clock.now)

    async def go() -> Any:
        http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [on_request]})
        client = openai.AsyncOpenAI(
            base_url=judge_server.base_url, api_key="k", max_retries=0, http_client=http
        )
        try:
            return await arun_judge(spec, store, client=client, clock=clock)
        finally:
            await client.close()

    result = asyncio.run(go())
    assert result.judged == 12
    assert judge_server.requests == len(sent) == 12
    assert max(sum(1 for s in sent if t <= s < t + 60) for t in sent) == 5
    assert clock.now >= 120  # two full windows had to pass


def test_retry_after_is_honoured_and_backoff_is_jittered() -> None:
    """A 429's Retry-After (7 s) is waited exactly; a 500's backoff is 0.5-1x the doubling."""
    with JudgeServer(mode="faulty", faults=("429", "500"), retry_after="7") as srv:
        store = store_of(answers(3))
        spec = make_spec(srv.base_url, limits={"concurrency": 1, "backoff": 4})
        clock = _VirtualClock()
        waits: list[float] = []
        sleep = clock.sleep

        async def recorded(seconds: float) -> None:
            waits.append(seconds)
            await sleep(seconds)

        clock.sleep = recorded  # type: ignore[method-assign]  # record each wait
        result = asyncio.run(arun_judge(spec, store, clock=clock))
        assert result.judged == 3
        assert dict(result.retries) == {"rate_limited": 3, "server_error": 3}
        assert waits[0::2] == [7.0, 7.0, 7.0]
        assert all(4.0 <= w <= 8.0 for w in waits[1::2])  # second retry: 4 * 2, jittered
        assert len(waits) == 6


def test_concurrency_bounds_requests_in_flight() -> None:
    """Concurrency 3: the server never holds more than 3 judge requests at once."""
    with JudgeServer(delay=0.05) as srv:
        store = store_of(answers(15))
        result = run_judge(make_spec(srv.base_url, limits={"concurrency": 3}), store)
        assert result.judged == 15
        assert 1 <= srv.max_in_flight <= 3


def test_rate_samples_the_same_items_by_hash(judge_server: JudgeServer) -> None:
    """rate 0.5 judges exactly the items whose hash of judge name and id falls below 0.5."""
    its = answers(40)
    store = store_of(its)
    spec = make_spec(judge_server.base_url, sampling={"rate": 0.5})
    result = run_judge(spec, store)

    def chosen(iid: str) -> bool:
        h = hashlib.blake2b(f"helpful\0{iid}".encode(), digest_size=8).digest()
        return int.from_bytes(h, "big") / 2.0**64 < 0.5

    want = sorted(it.id for it in its if chosen(it.id))
    assert (result.candidates, result.sampled) == (40, len(want))
    assert sorted(fb.interaction_id for fb in _verdicts(store)) == want


def test_position_biased_judge_is_counted_not_resolved() -> None:
    """A judge that always says A: every pair is inconsistent, stored as such, counted."""
    with JudgeServer(mode="biased") as srv:
        store = store_of(pairs(6))
        spec = make_spec(srv.base_url, rubric={"type": "pairwise"}, sampling={"pairs": True})
        result = run_judge(spec, store)
        assert (result.pairs, result.inconsistent_pairs, result.judged) == (6, 6, 6)
        assert result.position_bias_rate == 1.0
        fbs = _verdicts(store)
        assert len(fbs) == 12
        assert {fb.metadata["consistent"] for fb in fbs} == {False}
        assert {fb.metadata["pair_verdict"] for fb in fbs} == {"inconsistent"}
        assert sorted(fb.metadata["order"] for fb in fbs) == ["AB"] * 6 + ["BA"] * 6
        assert {fb.data["preferred_response_id"] == fb.metadata["shown_first"] for fb in fbs} == {
            True
        }


def test_fair_pairwise_judge_is_consistent(judge_server: JudgeServer) -> None:
    """A fair judge names the same winner in both orders: 0 inconsistent, one winner a pair."""
    store = store_of(pairs(5))
    spec = make_spec(judge_server.base_url, rubric={"type": "pairwise"}, sampling={"pairs": True})
    result = run_judge(spec, store)
    assert (result.pairs, result.inconsistent_pairs) == (5, 0)
    fbs = _verdicts(store)
    for item in {fb.metadata["item"] for fb in fbs}:
        both = [fb for fb in fbs if fb.metadata["item"] == item]
        assert len(both) == 2
        assert len({fb.data["preferred_response_id"] for fb in both}) == 1
        assert both[0].metadata["pair_verdict"] == both[0].data["preferred_response_id"]


def test_judge_calls_are_not_product_interactions(
    judge_server: JudgeServer,
    logger: RLHFLogger,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    store: MemoryStore,
) -> None:
    """With the OpenAI instrumentation on, a product call is recorded but judge calls are not."""
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=tracer_provider)
    try:
        with OpenAIServer() as product:
            client = openai.OpenAI(base_url=product.base_url, api_key="k", max_retries=0)
            client.chat.completions.create(
                model="m1", messages=[{"role": "user", "content": "hello"}]
            )
            client.close()
        logger.flush()
        assert len(list(store.scan_interactions())) == 1  # the instrumentation records
        spans_before = len(span_exporter.get_finished_spans())
        result = run_judge(make_spec(judge_server.base_url), store)
        logger.flush()
        assert result.judged == 1
        assert judge_server.answered == 1
        assert len(list(store.scan_interactions())) == 1
        assert len(span_exporter.get_finished_spans()) == spans_before
    finally:
        inst.uninstrument()


def test_pair_with_one_order_stored_gets_only_the_other(judge_server: JudgeServer) -> None:
    """A pair whose AB verdict is stored (a run stopped between writes) gets only BA next."""
    its = pairs(3)
    spec = make_spec(judge_server.base_url, rubric={"type": "pairwise"}, sampling={"pairs": True})
    full = store_of(its)
    run_judge(spec, full)
    first_orders = [fb for fb in _verdicts(full) if fb.metadata["order"] == "AB"]
    partial = store_of(its)
    partial.write([], first_orders)
    result = run_judge(spec, partial)
    assert (result.judged, result.stored) == (3, 3)
    stored = _verdicts(partial)
    assert sorted(fb.metadata["order"] for fb in stored) == ["AB"] * 3 + ["BA"] * 3
    assert len({fb.id for fb in stored}) == 6
