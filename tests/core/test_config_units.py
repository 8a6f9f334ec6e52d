"""Time options are seconds: values that are clearly milliseconds are refused, naming the unit."""

from __future__ import annotations

import pytest

from rlhf_otel import ConfigurationError, RLHFConfig


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "batch_flush_interval",
            10000,
            "batch_flush_interval=10000 is in seconds, so this is 2.78 hours; it looks like "
            "milliseconds: pass 10 for 10 seconds. Allowed: up to 3600 seconds",
        ),
        (
            "session_timeout",
            1_800_000,
            "session_timeout=1800000 is in seconds, so this is 20.8 days; it looks like "
            "milliseconds: pass 1800 for 30 minutes. Allowed: up to 604800 seconds",
        ),
        (
            "export_timeout",
            30000.0,
            "export_timeout=30000.0 is in seconds, so this is 8.33 hours; it looks like "
            "milliseconds: pass 30 for 30 seconds. Allowed: up to 3600 seconds",
        ),
    ],
)
def test_millisecond_values_are_refused(name: str, value: float, message: str) -> None:
    """The guide's millisecond values raise ConfigurationError naming seconds as the unit."""
    with pytest.raises(ConfigurationError) as exc:
        RLHFConfig(**{name: value})  # type: ignore[arg-type]
    assert str(exc.value) == message


def test_millisecond_values_from_the_environment_are_refused() -> None:
    """RLHF_OTEL_BATCH_FLUSH_INTERVAL=10000 is refused the same way."""
    with pytest.raises(ConfigurationError, match="it looks like milliseconds"):
        RLHFConfig.from_env({"RLHF_OTEL_BATCH_FLUSH_INTERVAL": "10000"})


def test_bounds_themselves_are_accepted() -> None:
    """An hour's flush interval, a week's session and an hour's export timeout are allowed."""
    c = RLHFConfig(batch_flush_interval=3600, session_timeout=604_800, export_timeout=3600)
    assert (c.batch_flush_interval, c.session_timeout, c.export_timeout) == (3600, 604_800, 3600)
