"""Judge-vs-people agreement equals an independent computation on a known share."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from rlhf_otel.cli import main
from rlhf_otel.judges import judge_agreement, run_judge
from rlhf_otel.stores import JsonlStore, MemoryStore
from tests.feedback_data import T0, rating, thumbs
from tests.judges.conftest import answers, make_spec, store_of
from tests.servers.judge_server import JudgeServer

N = 40


def _judge_says_pass(k: int) -> bool:
    return k % 2 == 0


def _p1_says_up(k: int) -> bool:
    return _judge_says_pass(k) != (k < 10)  # disagrees with the judge on items 0..9


def _p2_says_up(k: int) -> bool:
    return _p1_says_up(k) != (20 <= k < 25)  # disagrees with p1 on items 20..24


def _known_share(judge_server: JudgeServer) -> MemoryStore:
    marks = ["JUDGE=pass" if _judge_says_pass(k) else "JUDGE=fail" for k in range(N)]
    its = answers(N, marks=marks)
    store = store_of(its)
    ts = T0 + timedelta(hours=1)
    store.write([], [thumbs(f"h{k}", its[k].id, _p1_says_up(k), ts, user_id="p1")
                     for k in range(N)])  # fmt: skip
    run_judge(make_spec(judge_server.base_url), store)
    return store


def _kappa(a: list[bool], b: list[bool]) -> float:
    n = len(a)
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    p_e = pa * pb + (1 - pa) * (1 - pb)
    return (p_o - p_e) / (1 - p_e)


def _alpha_two_coders(a: list[bool], b: list[bool]) -> float:
    """Krippendorff's nominal alpha of two coders with no missing values, by hand."""
    disagreeing = sum(x != y for x, y in zip(a, b, strict=True))
    n = 2 * len(a)
    n_up = sum(a) + sum(b)
    n_down = n - n_up
    return 1 - (n - 1) * (2 * disagreeing) / (2 * n_up * n_down)


def test_agreement_equals_independent_computation(judge_server: JudgeServer) -> None:
    """The judge agrees with one person on 30 of 40: share, kappa, alpha, confusion match."""
    store = _known_share(judge_server)
    (ag,) = judge_agreement(store, resamples=200, seed=1)
    judge = [_judge_says_pass(k) for k in range(N)]
    person = [_p1_says_up(k) for k in range(N)]
    assert (ag.judge, ag.kind, ag.items, ag.pairs) == ("helpful@1", "binary", N, N)
    assert ag.percent_agreement == 0.75
    assert ag.cohen_kappa == pytest.approx(_kappa(judge, person))
    assert ag.cohen_kappa == pytest.approx(0.5)
    assert ag.krippendorff_alpha == pytest.approx(_alpha_two_coders(judge, person))
    assert ag.confusion == {
        "thumbs_down": {"thumbs_down": 15, "thumbs_up": 5},
        "thumbs_up": {"thumbs_down": 5, "thumbs_up": 15},
    }
    assert ag.cohen_kappa_ci is not None
    assert ag.cohen_kappa_ci[0] <= 0.5 <= ag.cohen_kappa_ci[1]
    assert judge_agreement(store, resamples=200, seed=1)[0].cohen_kappa_ci == ag.cohen_kappa_ci
    assert ag.human is None  # one person per item: no ceiling yet


def test_people_agreement_is_the_ceiling_beside_it(judge_server: JudgeServer) -> None:
    """A second person on 20 items: people-vs-people kappa computed by hand sits beside."""
    store = _known_share(judge_server)
    ids = [it.id for it in store.scan_interactions()]
    ts = T0 + timedelta(hours=2)
    store.write([], [thumbs(f"q{k}", ids[k], _p2_says_up(k), ts, user_id="p2")
                     for k in range(20, N)])  # fmt: skip
    (ag,) = judge_agreement(store, resamples=0)
    assert ag.human is not None
    assert (ag.human.items, ag.human.raters) == (20, 2)
    p1 = [_p1_says_up(k) for k in range(20, N)]
    p2 = [_p2_says_up(k) for k in range(20, N)]
    assert ag.human.cohen_kappa == pytest.approx(_kappa(p1, p2))
    assert ag.pairs == N + 20


def test_rating_bias_is_the_mean_difference(judge_server: JudgeServer) -> None:
    """The judge gives 4 of 5 where people gave 3: a bias of +0.25 on the 0..1 scale."""
    its = answers(10, marks=["JUDGE=4"] * 10)
    store = store_of(its)
    store.write([], [rating(f"h{k}", it.id, 3, T0, user_id="p1") for k, it in enumerate(its)])
    run_judge(make_spec(judge_server.base_url, rubric={"type": "rating"}), store)
    (ag,) = judge_agreement(store, resamples=0)
    assert ag.kind == "rating"
    assert ag.mean_difference == pytest.approx(0.25)
    assert ag.confusion == {"0.75": {"0.5": 10}}


def test_position_bias_rate_in_report() -> None:
    """A biased pairwise judge shows a position-bias rate of 1 in the report."""
    from tests.judges.conftest import pairs

    with JudgeServer(mode="biased") as srv:
        store = store_of(pairs(4))
        spec = make_spec(srv.base_url, rubric={"type": "pairwise"}, sampling={"pairs": True})
        run_judge(spec, store)
    (ag,) = judge_agreement(store, resamples=0)
    assert (ag.kind, ag.pairs_judged, ag.inconsistent_pairs) == ("comparative", 4, 4)
    assert ag.position_bias_rate == 1.0


def test_cli_report_and_stats_carry_the_agreement(
    judge_server: JudgeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`judge report --json` and `stats --json` give the same judge-vs-people figures."""
    marks = ["JUDGE=pass" if _judge_says_pass(k) else "JUDGE=fail" for k in range(N)]
    its = answers(N, marks=marks)
    with JsonlStore(tmp_path) as store:
        store.write(its, [thumbs(f"h{k}", its[k].id, _p1_says_up(k), T0, user_id="p1")
                          for k in range(N)])  # fmt: skip
        run_judge(make_spec(judge_server.base_url), store)
    capsys.readouterr()
    assert main(["judge", "report", "--data-dir", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["judges"]
    assert main(["stats", "--data-dir", str(tmp_path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)["judges"]
    assert [(a["judge"], a["kind"], a["items"]) for a in report] == [("helpful@1", "binary", N)]
    assert report[0]["cohen_kappa"] == pytest.approx(0.5)
    assert stats[0]["cohen_kappa"] == pytest.approx(0.5)
    assert main(["judge", "report", "--data-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "helpful@1" in text
    assert "0.500" in text


def test_analytics_agreement_between_people_leaves_judges_out(judge_server: JudgeServer) -> None:
    """get_analytics' inter-annotator agreement counts people only, never a judge as a rater."""
    from rlhf_otel.analytics import get_analytics
    from rlhf_otel.records import FeedbackFilter

    store = _known_share(judge_server)
    ids = [it.id for it in store.scan_interactions()]
    store.write([], [thumbs(f"q{k}", ids[k], _p2_says_up(k), T0, user_id="p2")
                     for k in range(20, N)])  # fmt: skip
    result = get_analytics(store, FeedbackFilter(end_time=T0.replace(year=2027)))
    (binary,) = [a for a in result.agreement if a.kind == "binary"]
    assert (binary.items, binary.raters) == (20, 2)
