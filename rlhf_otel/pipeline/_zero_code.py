"""The exporter ``opentelemetry-instrument --traces_exporter rlhf`` builds (no code change)."""

from __future__ import annotations

from rlhf_otel._config import RLHFConfig
from rlhf_otel.pipeline._exporter import RLHFSpanExporter
from rlhf_otel.pipeline._logs import remember_zero_code
from rlhf_otel.stores import open_store

__all__ = ["ZeroCodeSpanExporter"]


class ZeroCodeSpanExporter(RLHFSpanExporter):
    """Writes interaction and feedback spans into the store the ``RLHF_OTEL_*`` environment
    names (default: JSONL files in ``./rlhf-data``).

    Registered as the ``rlhf`` traces exporter (entry point group
    ``opentelemetry_traces_exporter``), so::

        RLHF_OTEL_DATA_DIR=./rlhf-data opentelemetry-instrument \\
            --traces_exporter rlhf python app.py

    records every ``@trace_llm`` call and every OpenAI call (with the rlhf OpenAI
    instrumentation installed) with no code change. The SDK wraps this exporter in its own
    ``BatchSpanProcessor``, whose queue may drop spans under heavy load (it counts them in
    its own logs only); a logger (``create_rlhf_logger``) uses our processor, which does not.

    With ``--logs_exporter rlhf`` too, GenAI content sent as log records (openai-v2's
    ``EVENT_ONLY`` mode) is joined to these spans (see ``ZeroCodeLogExporter``).
    """

    def __init__(self) -> None:
        config = RLHFConfig.from_env()
        super().__init__(open_store(config), redact=config.redact, sample_rate=config.sample_rate)
        remember_zero_code(self)
