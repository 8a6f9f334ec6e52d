"""`opentelemetry-instrument --traces_exporter rlhf --logs_exporter rlhf` with OpenTelemetry's
openai-v2 in EVENT_ONLY mode (content only in log records) stores complete interactions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlhf_otel.stores import JsonlStore
from tests.servers.openai_server import OpenAIServer

APP = """
import sys
import openai

client = openai.OpenAI(base_url=sys.argv[1], api_key="test", max_retries=0)
client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}],
)
"""


@pytest.mark.slow
def test_zero_code_joins_event_only_content(tmp_path: Path) -> None:
    """The logs exporter joins openai-v2's content log record to its span's record."""
    app = tmp_path / "app.py"
    app.write_text(APP)
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        {
            "RLHF_OTEL_DATA_DIR": str(data),
            "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY",
            # Only OpenTelemetry's openai-v2 here (ours would record the same call too).
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "rlhf_openai",
        }
    )
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    with OpenAIServer(slow_seconds=0.1) as server:
        subprocess.run(
            [
                str(instrument),
                "--traces_exporter",
                "rlhf",
                "--logs_exporter",
                "rlhf",
                "--metrics_exporter",
                "none",
                sys.executable,
                str(app),
                server.base_url,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    with JsonlStore(data) as store:
        (it,) = store.scan_interactions()
    assert (it.prompt, it.response, it.model, it.provider) == (
        "Hi?",
        "Echo: Hi?",
        "gpt-4o-mini",
        "openai",
    )
    assert list(it.context) == [{"role": "system", "content": "Be brief."}]
