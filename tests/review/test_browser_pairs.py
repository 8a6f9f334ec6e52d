"""The pairwise arena in headless Chromium: random sides, hidden names, tie and both-bad."""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import TracerProvider
from playwright.sync_api import Browser, Page

from rlhf_otel import FeedbackFilter, FeedbackType
from rlhf_otel.export import export_feedback
from tests.review.support import MODELS, PAIR_QUEUE, open_logger, seed_pairs, serving

VOTE_KEYS = {"A": "a", "B": "b", "tie": "t", "both_bad": "x"}


def _vote(name: str, position: int) -> str:
    """Alice cycles A, B, tie, both_bad; Bob agrees on even items and says A otherwise."""
    cycle = ("A", "B", "tie", "both_bad")[position % 4]
    return cycle if name == "alice" or position % 2 == 0 else "A"


def _arena(
    page: Page, name: str, texts: dict[str, str], log: list[tuple[str, str, str, str]]
) -> bool:
    page.wait_for_function(
        "() => document.querySelector('#item').dataset.key || !document.querySelector('#empty').hidden"
    )
    key = page.evaluate("document.querySelector('#item').dataset.key")
    if not key:
        if page.evaluate("document.querySelector('#empty').dataset.waiting") == "0":
            return False
        page.keyboard.press("j")  # the other reviewer holds an item that may come back
        page.wait_for_timeout(100)
        return True
    html = page.content()
    assert not any(m in html for m in MODELS)  # names hidden before the vote
    side_a, side_b = texts[page.inner_text("#answer-a")], texts[page.inner_text("#answer-b")]
    pos = int(page.inner_text("#mode").rsplit(" ", 1)[-1])
    vote = _vote(name, pos)
    page.keyboard.press(VOTE_KEYS[vote])
    page.keyboard.press("Enter")
    page.wait_for_selector("#status:has-text('. A was')")
    log.append((key, side_a, side_b, vote))
    page.keyboard.press("Enter")  # on to the next item
    page.wait_for_function(
        "k => document.querySelector('#item').dataset.key !== k", arg=key, timeout=10_000
    )
    return True


def test_pairwise_arena_sides_names_tie_both_bad(browser: Browser, tmp_path: Path) -> None:
    """Sides differ by reviewer, names appear only after the vote, tie/both-bad are handled."""
    provider = TracerProvider()
    logger = open_logger(tmp_path / "data", provider)
    models = seed_pairs(logger)
    texts = {it.response: it.id for it in logger.get_interactions()}
    votes: dict[str, list[tuple[str, str, str, str]]] = {"alice": [], "bob": []}
    with ExitStack() as stack, serving(logger, PAIR_QUEUE) as (service, url):
        api = stack.enter_context(httpx.Client(base_url=url))
        carol = {
            "authorization": "Bearer "
            + api.post("/api/signin", json={"reviewer": "carol"}).json()["session"]
        }
        wire = api.post("/api/next", json={"client": "c"}, headers=carol)
        assert wire.status_code == 200
        assert [set(s) for s in wire.json()["item"]["sides"]] == [
            {"slot", "interaction_id", "response"}
        ] * 2
        assert not any(m in wire.text for m in MODELS)  # not even on the wire
        assert api.post(
            "/api/skip", json={"lease": wire.json()["lease"]["id"]}, headers=carol
        ).json() == {"released": True}

        pages = {}
        for name in ("alice", "bob"):
            pages[name] = browser.new_context().new_page()
            pages[name].goto(url)
            pages[name].wait_for_selector("#reviewer:focus")
            pages[name].keyboard.type(name)
            pages[name].keyboard.press("Enter")
            pages[name].wait_for_selector("#review:not([hidden])")
        first = pages["alice"]
        first.wait_for_selector("#pair:not([hidden])")
        first.keyboard.press("a")
        first.keyboard.press("Enter")
        first.wait_for_selector("#status:has-text('. A was')")
        revealed = (first.text_content("#model-a"), first.text_content("#model-b"))
        a_id = texts[first.inner_text("#answer-a")]
        b_id = texts[first.inner_text("#answer-b")]
        assert revealed == (f"({models[a_id]})", f"({models[b_id]})")  # names after the vote
        key = first.evaluate("document.querySelector('#item').dataset.key")
        votes["alice"].append((key, a_id, b_id, "A"))
        first.keyboard.press("j")
        first.wait_for_function("k => document.querySelector('#item').dataset.key !== k", arg=key)
        busy = True
        while busy:
            busy = False
            for name in ("alice", "bob"):
                for _ in range(3):
                    busy = _arena(pages[name], name, texts, votes[name]) or busy

    assert len(service.book.items) == 12
    for name in ("alice", "bob"):
        assert len({v[0] for v in votes[name]}) == len(votes[name])
    assert [len(v) for v in votes.values()] == [12, 12]  # carol's skipped item came back
    # Sides are random per reviewer: both orders of the same pair were shown.
    orders = {(n, k): (a, b) for n in votes for k, a, b, _ in votes[n]}
    swapped = [
        k
        for (n, k), ab in orders.items()
        if n == "alice" and ("bob", k) in orders and orders[("bob", k)] != ab
    ]
    kept = [
        k
        for (n, k), ab in orders.items()
        if n == "alice" and ("bob", k) in orders and orders[("bob", k)] == ab
    ]
    assert swapped
    assert kept

    logger.flush()
    stored = [
        fb for fb in logger.query_feedback(source="review") if fb.type is FeedbackType.COMPARATIVE
    ]
    assert len(stored) == 24
    by_key = {(fb.user_id, fb.metadata["item"]): fb for fb in stored}
    for name in votes:
        for key, a, b, vote in votes[name]:
            fb = by_key[(name, key)]
            assert fb.metadata["sides"] == [a, b]
            if vote in ("tie", "both_bad"):
                assert fb.data["outcome"] == vote
                assert (fb.data["preferred_response_id"], fb.data["compared_response_ids"]) == (
                    a,
                    [b],
                )
            else:
                win, lose = (a, b) if vote == "A" else (b, a)
                assert "outcome" not in fb.data
                assert (fb.data["preferred_response_id"], fb.data["compared_response_ids"]) == (
                    win,
                    [lose],
                )

    # Rankings: a tie is half a win each, both-bad is skipped and counted.
    all_votes = [v for n in votes for v in votes[n]]
    wins: Counter[str] = Counter()
    losses: Counter[str] = Counter()
    ties: Counter[str] = Counter()
    for _, a, b, vote in all_votes:
        if vote == "tie":
            ties[models[a]] += 1
            ties[models[b]] += 1
        elif vote in ("A", "B"):
            win, lose = (a, b) if vote == "A" else (b, a)
            wins[models[win]] += 1
            losses[models[lose]] += 1
    rankings = logger.get_analytics(FeedbackFilter(source="review")).rankings
    got = {m.model: (m.wins, m.losses, m.ties) for m in rankings.models}
    assert got == {m: (wins[m], losses[m], ties[m]) for m in MODELS}
    both_bad = sum(1 for v in all_votes if v[3] == "both_bad")
    assert rankings.skipped == {"comparison_both_bad": both_bad}
    for m in rankings.models:
        assert m.win_rate == (wins[m.model] + ties[m.model] / 2) / (
            wins[m.model] + losses[m.model] + ties[m.model]
        )

    # DPO: only A/B votes make pairs; tie and both-bad are counted as skipped with reasons.
    out = tmp_path / "dpo.jsonl"
    report = export_feedback(logger.store, "dpo", out=str(out))
    decided = {(k, a, b, v) for k, a, b, v in all_votes if v in ("A", "B")}
    pairs = {frozenset((a, b)) for _, a, b, _ in decided}
    assert report.rows == len(pairs)
    assert report.skipped["comparison_tie"] == sum(1 for v in all_votes if v[3] == "tie")
    assert report.skipped["comparison_both_bad"] == both_bad
    logger.close()
    provider.shutdown()
