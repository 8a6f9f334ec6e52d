"""`opentelemetry-instrument --traces_exporter rlhf` stores records with no code change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rlhf_otel.stores import JsonlStore

APP = """
import rlhf_otel

@rlhf_otel.trace_llm(model="gpt-4o-mini")
def chat(prompt: str) -> str:
    return "Paris."

chat("Capital of France?")
print(rlhf_otel.last_interaction_id())
"""


def test_zero_code_exporter_writes_the_local_store(tmp_path: Path) -> None:
    """An app with no rlhf-otel setup code, run under opentelemetry-instrument, is stored."""
    app = tmp_path / "app.py"
    app.write_text(APP)
    data = tmp_path / "data"
    env = {
        **os.environ,
        "RLHF_OTEL_DATA_DIR": str(data),
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    done = subprocess.run(
        [str(instrument), "--traces_exporter", "rlhf", sys.executable, str(app)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    interaction_id = done.stdout.strip()
    with JsonlStore(data) as store:
        record = store.get_interaction(interaction_id)
    assert record is not None
    assert (record.prompt, record.response, record.model, record.provider) == (
        "Capital of France?",
        "Paris.",
        "gpt-4o-mini",
        "openai",
    )
