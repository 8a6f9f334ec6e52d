"""Configuration precedence: explicit argument > RLHF_OTEL_* environment > default."""

from __future__ import annotations

import pytest

from rlhf_otel import ConfigurationError, RLHFConfig, StorageBackend


def test_defaults_match_the_guide() -> None:
    """Batch size 50, 5 s flush, 30 min sessions, auto ids, anonymous users allowed."""
    c = RLHFConfig()
    assert (c.enable_batching, c.batch_size, c.batch_flush_interval) == (True, 50, 5.0)
    assert (c.enable_session_tracking, c.session_timeout) == (True, 1800.0)
    assert (c.auto_generate_ids, c.allow_anonymous, c.debug) == (True, True, False)
    assert (c.backend, c.data_dir) == (StorageBackend.LOCAL, "./rlhf-data")


def test_environment_then_explicit() -> None:
    """The environment overrides defaults; explicit arguments override the environment."""
    env = {
        "RLHF_OTEL_BATCH_SIZE": "7",
        "RLHF_OTEL_BACKEND": "memory",
        "RLHF_OTEL_ENABLE_BATCHING": "false",
    }
    c = RLHFConfig.from_env(env)
    assert (c.batch_size, c.backend, c.enable_batching) == (7, StorageBackend.MEMORY, False)
    c = RLHFConfig.from_env(env, batch_size=9)
    assert c.batch_size == 9


def test_bad_environment_value_is_named() -> None:
    """A malformed environment value says which variable and what type was expected."""
    with pytest.raises(ConfigurationError, match="RLHF_OTEL_BATCH_SIZE='lots' is not a valid int"):
        RLHFConfig.from_env({"RLHF_OTEL_BATCH_SIZE": "lots"})


def test_api_key_not_in_repr() -> None:
    """The ZeroDB API key never shows in the config's repr."""
    c = RLHFConfig(backend="zerodb", zerodb_project_id="p", zerodb_api_key="sk-secret-123")
    assert "sk-secret-123" not in repr(c)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_rate": 1.5}, "sample_rate must be between 0 and 1; got 1.5"),
        ({"session_timeout": 0}, "session_timeout must be a positive number of seconds; got 0"),
        ({"max_prompt_chars": 10}, "max_prompt_chars must be an int >= 64; got 10"),
        ({"backend": "zerodb"}, "ZeroDB backend config is required when using ZERODB storage"),
        ({"store": object()}, "store object lacks the Store methods"),
    ],
)
def test_invalid_config(kwargs: dict[str, object], message: str) -> None:
    """Each invalid setting raises ConfigurationError saying what is allowed."""
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RLHFConfig(**kwargs)  # type: ignore[arg-type]
