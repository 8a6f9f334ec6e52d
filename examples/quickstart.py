"""The guide's Quick Start, in Python. Run: ``python examples/quickstart.py``."""

from __future__ import annotations

from rlhf_otel import BinaryFeedback, StorageBackend, create_rlhf_logger


def main() -> None:
    # Create the logger (memory store here; the default is local JSONL files in ./rlhf-data).
    logger = create_rlhf_logger(
        backend=StorageBackend.MEMORY,
        enable_batching=True,
        enable_session_tracking=True,
    )
    logger.initialize()

    # Log an interaction.
    interaction_id = logger.log_interaction(
        "What is the capital of France?",
        "The capital of France is Paris.",
        model="gpt-4",
        latency=250,
        token_usage={"prompt": 10, "completion": 15, "total": 25},
    )

    # Log user feedback.
    logger.log_binary_feedback(interaction_id, BinaryFeedback.THUMBS_UP)

    # Get statistics.
    stats = logger.get_feedback_stats()
    print("Feedback rate:", stats.feedback_rate)

    # Close when done.
    logger.close()


if __name__ == "__main__":
    main()
