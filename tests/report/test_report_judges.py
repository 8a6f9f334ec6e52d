"""The HTML report's table of LLM judges against people."""

from __future__ import annotations

from datetime import timedelta

from rlhf_otel.analytics import get_analytics
from rlhf_otel.judges import judge_agreement
from rlhf_otel.records import FeedbackFilter
from rlhf_otel.report._html import render_report
from rlhf_otel.stores import MemoryStore
from tests.feedback_data import T0, interaction, thumbs


def _store() -> MemoryStore:
    store = MemoryStore(max_entries=None)
    its = [interaction(f"i{k}", "q", f"a{k}", T0 + timedelta(minutes=k)) for k in range(8)]
    people = [thumbs(f"h{k}", f"i{k}", k % 2 == 0, T0, user_id="p1") for k in range(8)]
    judge = [thumbs(f"j{k}", f"i{k}", k < 4, T0, user_id="helpful@1", source="model")
             for k in range(8)]  # fmt: skip
    store.write(its, people + judge)
    return store


def test_report_shows_each_judge_against_people() -> None:
    """With judge figures the report has a judges table naming the judge and its kappa."""
    store = _store()
    result = get_analytics(store, FeedbackFilter(end_time=T0.replace(year=2027)))
    found = judge_agreement(store, resamples=0)
    html = render_report(result, judges=found)
    assert 'data-table="judges"' in html
    assert "<td>helpful@1</td><td>binary</td><td>8</td><td>50.0%</td>" in html
    assert f"<td>{found[0].cohen_kappa:.3f} (n/a)</td>" in html


def test_report_without_judges_has_no_judge_table() -> None:
    """Without judge figures the report is as before: no judges table."""
    store = _store()
    html = render_report(get_analytics(store, FeedbackFilter(end_time=T0.replace(year=2027))))
    assert 'data-table="judges"' not in html
