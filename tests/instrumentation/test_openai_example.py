"""The example chatbot runs end to end against the local server."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "openai_chatbot.py"


def test_chatbot_example_records_interactions_and_thumbs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Three scripted turns give three interactions, each with one thumbs feedback."""
    spec = importlib.util.spec_from_file_location("openai_chatbot", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([]) == 0
    out = capsys.readouterr().out
    assert "3 interactions, 3 feedback" in out
    assert "thumbs up 2, down 1" in out
    assert len(re.findall(r"feedback=1$", out, flags=re.MULTILINE)) == 3
    assert "tokens=None" not in out
