"""Agreement statistics against published worked examples."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rlhf_otel.analytics import cohen_kappa, fleiss_kappa, get_analytics, krippendorff_alpha
from rlhf_otel.stores import MemoryStore
from tests.feedback_data import T0, interaction, rating, thumbs

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C:
# 4 observers, 12 units, values 1..5, missing data.
KRIPP = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}
# Fleiss' kappa worked example (Wikipedia, "Fleiss' kappa"): 10 subjects, 14 raters each.
FLEISS = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]  # fmt: skip


def _units() -> list[list[int]]:
    return [[v for v in col if v is not None] for col in zip(*KRIPP.values(), strict=True)]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_alpha_matches_published_example(metric: str, expected: float) -> None:
    """Alpha on Krippendorff's 4-observer example matches his figures to 3 decimals."""
    assert round(krippendorff_alpha(_units(), metric), 3) == expected  # type: ignore[arg-type]


def test_fleiss_kappa_matches_published_example() -> None:
    """Fleiss' kappa of the 10-subject, 14-rater example is 0.210."""
    items = [{c: n for c, n in enumerate(row)} for row in FLEISS]
    assert round(fleiss_kappa(items), 3) == 0.210  # type: ignore[arg-type]


def test_cohen_kappa_matches_published_example() -> None:
    """Cohen's kappa of the 50-proposal example (20 yes/yes, 15 no/no) is 0.4."""
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert round(cohen_kappa(a, b), 3) == 0.4  # type: ignore[arg-type]


def test_weighted_cohen_kappa_matches_hand_computation() -> None:
    """Quadratic weights on 3 ordinal categories: 1 - sum(w*o)/sum(w*e) computed by hand."""
    a = [1, 1, 2, 2, 3, 3]
    b = [1, 2, 2, 3, 3, 1]
    # weights (i-j)^2/4: observed disagreements 1->2 (.25), 2->3 (.25), 3->1 (1) over 6;
    # expected: marginals 1/3 each, sum over cells of w/9 = (0+.25+1+.25+0+.25+1+.25+0)/9.
    expected = 1 - ((0.25 + 0.25 + 1) / 6) / (3.0 / 9)
    assert cohen_kappa(a, b, weights="quadratic") == pytest.approx(expected)
    assert cohen_kappa(a, a) == 1.0


def test_undefined_agreement_is_none() -> None:
    """No variation at all, or no pairable units, gives None rather than a number."""
    assert krippendorff_alpha([[3, 3], [3, 3]]) is None
    assert krippendorff_alpha([[1], [2]]) is None
    assert fleiss_kappa([{"up": 3}, {"up": 2}]) is None
    assert cohen_kappa([], []) is None


def test_analytics_agreement_from_store_matches_published_alpha() -> None:
    """Ratings by four users on twelve interactions give Krippendorff's published alphas."""
    store = MemoryStore(max_entries=None)
    its = [interaction(f"i{u}", "q", f"a{u}", T0) for u in range(12)]
    fbs = []
    for rater, values in KRIPP.items():
        for u, v in enumerate(values):
            if v is not None:
                fbs.append(rating(f"{rater}{u}", f"i{u}", v, T0 + timedelta(minutes=u),
                                  user_id=rater))  # fmt: skip
    store.write(its, fbs)
    result = get_analytics(store)
    (agree,) = result.agreement
    assert agree.kind == "rating"
    assert (agree.items, agree.raters, agree.values) == (11, 4, 40)
    assert round(agree.krippendorff_alpha, 3) == 0.849  # type: ignore[arg-type]
    assert round(agree.krippendorff_alpha_ordinal, 3) == 0.815  # type: ignore[arg-type]
    assert round(agree.krippendorff_alpha_nominal, 3) == 0.743  # type: ignore[arg-type]


def test_analytics_fleiss_from_store_matches_published_kappa() -> None:
    """Fourteen users rating ten interactions as in Fleiss' example give kappa 0.210."""
    store = MemoryStore(max_entries=None)
    its = [interaction(f"i{s}", "q", f"a{s}", T0) for s in range(10)]
    fbs = []
    for s, row in enumerate(FLEISS):
        rater = 0
        for category, count in enumerate(row):
            for _ in range(count):
                fbs.append(rating(f"f{s}-{rater}", f"i{s}", category + 1, T0,
                                  user_id=f"r{rater}"))  # fmt: skip
                rater += 1
    store.write(its, fbs)
    (agree,) = get_analytics(store).agreement
    assert round(agree.fleiss_kappa, 3) == 0.210  # type: ignore[arg-type]


def test_latest_judgement_per_user_counts_and_binary_is_nominal() -> None:
    """A user who changes their thumbs counts once, with the latest value."""
    store = MemoryStore(max_entries=None)
    its = [interaction(f"i{k}", "q", f"a{k}", T0) for k in range(3)]
    fbs = [
        thumbs("a0", "i0", True, T0, user_id="ann"), thumbs("b0", "i0", True, T0, user_id="bob"),
        thumbs("a1", "i1", False, T0, user_id="ann"), thumbs("b1", "i1", False, T0, user_id="bob"),
        thumbs("a2", "i2", False, T0, user_id="ann"), thumbs("b2", "i2", True, T0, user_id="bob"),
        thumbs("a2b", "i2", True, T0, user_id="ann"),
    ]  # fmt: skip
    store.write(its, fbs)
    (agree,) = get_analytics(store).agreement
    assert agree.kind == "binary"
    assert (agree.items, agree.raters, agree.values) == (3, 2, 6)
    assert agree.cohen_kappa == 1.0
    assert agree.krippendorff_alpha == 1.0
    assert agree.krippendorff_alpha_ordinal is None
