"""Tie / both-bad comparisons and reviewer corrections through validation, spans, rankings and
the training exports."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rlhf_otel import FeedbackType, RLHFLogger, ValidationError
from rlhf_otel.analytics._rank import elo_ratings, rank_models
from rlhf_otel.export import iter_training_rows
from rlhf_otel.recording import records_from_span


def _seed(logger: RLHFLogger) -> tuple[str, str, str]:
    a1 = logger.log_interaction("p", "a1", model="m1")
    a2 = logger.log_interaction("p", "a2", model="m2")
    b1 = logger.log_interaction("q", "b1", model="m1")
    return a1, a2, b1


def test_outcome_and_correction_are_validated(logger: RLHFLogger) -> None:
    """An unknown outcome and a text feedback with neither comment nor correction are refused."""
    a1, a2, _ = _seed(logger)
    with pytest.raises(
        ValidationError,
        match="comparison outcome 'draw' is not allowed; use 'preferred', 'tie' or 'both_bad'",
    ):
        logger.log_comparative_feedback(a1, [a2], outcome="draw")
    with pytest.raises(ValidationError, match="text feedback comment must be a non-empty string"):
        logger.log_text_feedback(a1, None)
    with pytest.raises(ValidationError, match="correction must be a non-empty string or None"):
        logger.log_text_feedback(a1, "x", correction="  ")
    with pytest.raises(ValidationError, match="comparison outcome"):
        logger.log_feedback(
            a1,
            "comparative",
            {"preferred_response_id": a1, "compared_response_ids": [a2], "outcome": 1},
        )
    fid = logger.log_text_feedback(a1, "", correction="better")
    tie = logger.log_feedback(
        a1,
        "comparative",
        {"preferred_response_id": a1, "compared_response_ids": [a2], "outcome": "tie"},
    )
    won = logger.log_comparative_feedback(a2, [a1])
    got = {f: logger.get_feedback(f) for f in (fid, tie, won)}
    assert got[fid] is not None
    assert dict(got[fid].data) == {"comment": None, "sentiment": None, "correction": "better"}
    assert got[tie] is not None
    assert dict(got[tie].data) == {
        "preferred_response_id": a1, "compared_response_ids": [a2], "reason": None,
        "confidence_level": None, "outcome": "tie",
    }  # fmt: skip
    assert got[won] is not None
    assert "outcome" not in got[won].data


def test_spans_carry_outcome_and_correction(
    logger: RLHFLogger, span_exporter: InMemorySpanExporter
) -> None:
    """Decoding the spans (as a receiver does) gives back outcome, correction and link roles."""
    a1, a2, _ = _seed(logger)
    logger.log_comparative_feedback(a1, [a2], outcome="both_bad")
    logger.log_text_feedback(a1, None, correction="better")
    logger.flush()
    spans = [s for s in span_exporter.get_finished_spans() if s.name.startswith("feedback")]
    decoded = [records_from_span(s)[1][0] for s in spans]
    assert [(fb.type, dict(fb.data)) for fb in decoded] == [
        (FeedbackType.COMPARATIVE, {"preferred_response_id": a1, "compared_response_ids": [a2],
                                    "reason": None, "confidence_level": None, "outcome": "both_bad"}),
        (FeedbackType.TEXT, {"comment": None, "sentiment": None, "correction": "better"}),
    ]  # fmt: skip
    assert [dict(link.attributes or {})["rlhf.link.role"] for link in spans[0].links] == [
        "compared",
        "compared",
    ]
    assert spans[0].attributes is not None
    assert spans[0].attributes["gen_ai.evaluation.score.label"] == "both_bad"


def test_rankings_count_a_tie_as_half_a_win() -> None:
    """One tie: equal scores and Elo, win rate 0.5; a decisive game after it moves them."""
    tie = rank_models([("m1", "m2", 0.5)], {})
    assert [(m.model, m.wins, m.losses, m.ties, m.win_rate, m.comparisons) for m in tie.models] == [
        ("m1", 0, 0, 1, 0.5, 1), ("m2", 0, 0, 1, 0.5, 1),
    ]  # fmt: skip
    assert tie.models[0].score == pytest.approx(1000.0)
    assert elo_ratings([("m1", "m2", 0.5)]) == {"m1": 1000.0, "m2": 1000.0}
    mixed = rank_models([("m1", "m2"), ("m1", "m2", 0.5)], {})
    assert [(m.model, m.wins, m.losses, m.ties, m.win_rate) for m in mixed.models] == [
        ("m1", 1, 0, 1, 0.75), ("m2", 0, 1, 1, 0.25),
    ]  # fmt: skip
    assert mixed.head_to_head == {"m1": {"m2": 1}, "m2": {}}


def test_analytics_rankings_skip_both_bad(logger: RLHFLogger) -> None:
    """get_analytics counts a tie half each and reports both-bad as skipped."""
    a1, a2, _ = _seed(logger)
    logger.log_comparative_feedback(a1, [a2], outcome="tie")
    logger.log_comparative_feedback(a1, [a2], outcome="both_bad")
    logger.log_comparative_feedback(a2, [a1])
    r = logger.get_analytics().rankings
    assert [(m.model, m.wins, m.losses, m.ties) for m in r.models] == [
        ("m2", 1, 0, 1),
        ("m1", 0, 1, 1),
    ]
    assert r.skipped == {"comparison_both_bad": 1}
    assert r.comparisons == 2


def _rows(
    logger: RLHFLogger, fmt: str
) -> tuple[list[dict[str, Any]], dict[str, int], dict[str, int]]:
    logger.flush()
    rows = iter_training_rows(logger.store, fmt)
    out = list(rows)
    return out, dict(rows.report.used), {k: v for k, v in rows.report.skipped.items() if v}


def test_dpo_uses_corrections_and_skips_tie_and_both_bad(logger: RLHFLogger) -> None:
    """DPO: (prompt, correction, original) rows; tie and both-bad skipped with reasons."""
    a1, a2, b1 = _seed(logger)
    draft = logger.log_text_feedback(a1, None, correction="draft")
    logger.log_text_feedback(a1, "fixed it", correction="better", supersedes=draft)
    logger.log_text_feedback(b1, "just a comment")
    logger.log_text_feedback(b1, None, correction="b1")  # same as the answer: no pair
    logger.log_comparative_feedback(a1, [a2], outcome="tie")
    logger.log_comparative_feedback(a2, [a1], outcome="both_bad")
    logger.log_comparative_feedback(a2, [a1])
    rows, used, skipped = _rows(logger, "dpo")
    assert rows == [
        {"prompt": "p", "chosen": "better", "rejected": "a1"},
        {"prompt": "p", "chosen": "a2", "rejected": "a1"},
    ]
    assert used == {"correction": 1, "comparative": 1}
    assert skipped == {
        "comparison_tie": 1,
        "comparison_both_bad": 1,
        "correction_same_as_response": 1,
    }


def test_sft_answers_with_the_latest_correction(logger: RLHFLogger) -> None:
    """SFT: a corrected interaction is learnt with its latest correction, whatever its score."""
    a1, a2, _ = _seed(logger)
    logger.log_binary_feedback(a1, False)
    logger.log_text_feedback(a1, None, correction="first fix")
    logger.log_text_feedback(a1, None, correction="second fix")
    logger.log_binary_feedback(a2, True)
    rows, used, skipped = _rows(logger, "sft")
    assert rows == [
        {
            "messages": [
                {"role": "user", "content": "p"},
                {"role": "assistant", "content": "second fix"},
            ]
        },
        {"messages": [{"role": "user", "content": "p"}, {"role": "assistant", "content": "a2"}]},
    ]
    assert used == {"correction": 1, "binary": 1}
    assert skipped == {}
    kto, used, _ = _rows(logger, "kto")
    assert (len(kto), used) == (2, {"binary": 2})  # KTO ignores corrections
