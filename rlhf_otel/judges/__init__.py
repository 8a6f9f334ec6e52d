"""LLM judges: model feedback beside people's, measured against them (``rlhf-otel judge``).

Example::

    from rlhf_otel.judges import load_judge, run_judge
    from rlhf_otel.stores import JsonlStore

    spec = load_judge("examples/judges/helpfulness.yaml")
    with JsonlStore("./rlhf-data") as store:
        result = run_judge(spec, store)
    print(result.judged, dict(result.skipped), dict(result.failed))

A verdict is ordinary feedback: ``source="model"`` (evaluator type ``model``),
``user_id="name@version"``, the explanation as its comment, and the judge call's usage,
cost and confidence in ``metadata``. Spec format, pairwise storage and agreement:
``docs/ai-feedback.md``. Calls need the ``openai`` package (``rlhf-otel[judges]``).
"""

from __future__ import annotations

from rlhf_otel.judges._run import (
    MODEL_SOURCE,
    JudgeRunResult,
    arun_judge,
    judge_feedback_id,
    run_judge,
)
from rlhf_otel.judges._spec import PLACEHOLDERS, JudgeSpec, load_judge, parse_judge
from rlhf_otel.review import JudgeAgreement, judge_agreement

__all__ = [
    "JudgeAgreement",
    "JudgeRunResult",
    "JudgeSpec",
    "MODEL_SOURCE",
    "PLACEHOLDERS",
    "arun_judge",
    "judge_agreement",
    "judge_feedback_id",
    "load_judge",
    "parse_judge",
    "run_judge",
]
