"""Every span, event and link attribute name that rlhf-otel reads or writes.

The GenAI names follow the current OpenTelemetry semantic conventions; ours live under
``rlhf.*``. Example::

    from rlhf_otel import attributes as A
    span.get_attribute(A.RLHF_INTERACTION_ID)
"""

from __future__ import annotations

from typing import Final

# OpenTelemetry GenAI semantic conventions.
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"  # deprecated name, read only (older instrumentations)
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_EVALUATION_NAME: Final = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE: Final = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL: Final = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION: Final = "gen_ai.evaluation.explanation"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
SESSION_ID: Final = "session.id"
USER_ID: Final = "user.id"
ERROR_TYPE: Final = "error.type"

# rlhf-otel extensions.
RLHF_RECORD_KIND: Final = "rlhf.record.kind"
RLHF_INTERACTION_ID: Final = "rlhf.interaction.id"
RLHF_RECORD_QUEUE: Final = "rlhf.record.queue"
"""On a span whose record a record queue already took: that queue's process-local id.
An ``RLHFSpanExporter`` in the same process skips such a span (the record is stored once)."""
RLHF_LATENCY_MS: Final = "rlhf.latency_ms"
RLHF_TTFT_MS: Final = "rlhf.time_to_first_token_ms"
RLHF_MODEL_PARAMS: Final = "rlhf.model_params"
RLHF_METADATA: Final = "rlhf.metadata"
RLHF_USAGE_TOTAL_TOKENS: Final = "rlhf.usage.total_tokens"
RLHF_FEEDBACK_ID: Final = "rlhf.feedback.id"
RLHF_FEEDBACK_TYPE: Final = "rlhf.feedback.type"
RLHF_FEEDBACK_SOURCE: Final = "rlhf.feedback.source"
RLHF_FEEDBACK_TARGET_IDS: Final = "rlhf.feedback.target_ids"
RLHF_FEEDBACK_VALUE: Final = "rlhf.feedback.value"
RLHF_FEEDBACK_RATING: Final = "rlhf.feedback.rating"
RLHF_FEEDBACK_MIN_RATING: Final = "rlhf.feedback.min_rating"
RLHF_FEEDBACK_MAX_RATING: Final = "rlhf.feedback.max_rating"
RLHF_FEEDBACK_COMMENT: Final = "rlhf.feedback.comment"
RLHF_FEEDBACK_SENTIMENT: Final = "rlhf.feedback.sentiment"
RLHF_FEEDBACK_DIMENSIONS: Final = "rlhf.feedback.dimensions"
RLHF_FEEDBACK_WEIGHTS: Final = "rlhf.feedback.weights"
RLHF_FEEDBACK_PREFERRED_ID: Final = "rlhf.feedback.preferred_id"
RLHF_FEEDBACK_COMPARED_IDS: Final = "rlhf.feedback.compared_ids"
RLHF_FEEDBACK_REASON: Final = "rlhf.feedback.reason"
RLHF_FEEDBACK_CONFIDENCE: Final = "rlhf.feedback.confidence"
RLHF_FEEDBACK_SUPERSEDES: Final = "rlhf.feedback.supersedes"
RLHF_FEEDBACK_OUTCOME: Final = "rlhf.feedback.outcome"
RLHF_FEEDBACK_CORRECTION: Final = "rlhf.feedback.correction"
RLHF_LINK_ROLE: Final = "rlhf.link.role"

GEN_AI_EVALUATION_RESULT: Final = "gen_ai.evaluation.result"
"""Name of the span event that carries feedback given while the interaction span is open
(the GenAI conventions' evaluation event)."""

RLHF_FEEDBACK_EVENT: Final = "rlhf.feedback"
"""The feedback event name earlier releases wrote (still read)."""

RLHF_FEEDBACK_EVALUATOR_TYPE: Final = "rlhf.feedback.evaluator.type"
"""Who gave the feedback: ``end_user``, ``reviewer`` or ``model``."""
RLHF_FEEDBACK_EVALUATOR_ID: Final = "rlhf.feedback.evaluator.id"
"""The evaluator's id (the user id of an end user or reviewer, a judge model's name)."""

RECORD_KIND_INTERACTION: Final = "interaction"
RECORD_KIND_FEEDBACK: Final = "feedback"

ALL_ATTRIBUTES: Final[tuple[str, ...]] = tuple(
    sorted(
        value
        for name, value in dict(globals()).items()
        if name.isupper()
        and isinstance(value, str)
        and name
        not in {
            "GEN_AI_EVALUATION_RESULT",
            "RLHF_FEEDBACK_EVENT",
            "RECORD_KIND_INTERACTION",
            "RECORD_KIND_FEEDBACK",
        }
    )
)
"""Every attribute name defined here, sorted (frozen by a test)."""
