"""Logger configuration: a frozen dataclass; explicit argument > RLHF_OTEL_* env > default."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final

from rlhf_otel import _env
from rlhf_otel._errors import ConfigurationError
from rlhf_otel.records import StorageBackend
from rlhf_otel.stores import Store

__all__ = ["ENV_VARS", "RLHFConfig"]

ENV_VARS: Final[Mapping[str, str]] = _env.CONFIG_FIELDS
"""Config field -> environment variable read when the field is not given explicitly."""

_TRUE: Final = {"1", "true", "yes", "on"}
_FALSE: Final = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True, kw_only=True)
class RLHFConfig:
    """Everything an :class:`~rlhf_otel.RLHFLogger` can be told. Times are in seconds.

    Attributes:
        backend: where records go (default ``local``: JSONL files in ``data_dir``).
        data_dir: directory of the local store (default ``./rlhf-data``).
        compress: gzip rotated local segments (default off).
        max_file_size_mb: rotate local segments past this size (default 100).
        rotate_files: rotate local segments at all (default on).
        memory_max_entries: bound of the memory store, per kind (default 10,000).
        store: an object implementing :class:`~rlhf_otel.stores.Store` (``custom`` backend).
        zerodb_project_id, zerodb_api_key, zerodb_base_url, table_name, vector_table_name:
            the ZeroDB backend.
        enable_batching: export in batches from a background thread (default on); off
            writes each record before the call returns.
        batch_size: export when this many records wait (default 50).
        batch_flush_interval: export at least this often (default 5.0 s).
        max_queue_size: records waiting at most; past it the caller exports a batch itself
            (bounded wait), so nothing is dropped under load (default 20,000).
        auto_generate_ids: ids from the span context (default on); off requires ids.
        enable_session_tracking: start a session on ``initialize()`` (default on).
        session_timeout: idle time after which a session is replaced (default 1800 s).
        allow_anonymous: accept records with no user id (default on).
        default_metadata: merged under every record's metadata.
        debug: log every step at DEBUG on the ``rlhf_otel`` logger.
        capture_content: record prompts, responses and comments (default on).
        redact: redactors applied to every text before any sink (default none;
            ``rlhf_otel.redact_secrets`` is built in).
        max_prompt_chars, max_response_chars, max_text_chars, max_context_messages: size
            limits; longer texts are cut with a visible marker and counted (default 100,000
            characters each, 100 context messages).
        sample_rate: share of traces whose interactions are kept (0..1, default 1); decided
            by trace id, so a whole trace is kept or not; feedback is always kept.
        otlp_endpoint: also send spans over OTLP/HTTP to this collector.
        set_global_tracer_provider: when the logger creates its own provider, also make it
            the global one (default off).
        export_timeout: the longest ``flush``/``close`` waits (default 30 s).
    """

    backend: StorageBackend = StorageBackend.LOCAL
    data_dir: str = "./rlhf-data"
    compress: bool = False
    max_file_size_mb: float = 100.0
    rotate_files: bool = True
    memory_max_entries: int | None = 10_000
    store: Store | None = None
    zerodb_project_id: str | None = None
    zerodb_api_key: str | None = field(default=None, repr=False)
    zerodb_base_url: str | None = None
    table_name: str = "rlhf_feedback"
    vector_table_name: str = "rlhf_vectors"
    enable_batching: bool = True
    batch_size: int = 50
    batch_flush_interval: float = 5.0
    max_queue_size: int = 20_000
    auto_generate_ids: bool = True
    enable_session_tracking: bool = True
    session_timeout: float = 1800.0
    allow_anonymous: bool = True
    default_metadata: Mapping[str, Any] = field(default_factory=dict)
    debug: bool = False
    capture_content: bool = True
    redact: Sequence[Callable[[str], str]] = ()
    max_prompt_chars: int | None = 100_000
    max_response_chars: int | None = 100_000
    max_text_chars: int | None = 100_000
    max_context_messages: int | None = 100
    sample_rate: float = 1.0
    otlp_endpoint: str | None = None
    set_global_tracer_provider: bool = False
    export_timeout: float = 30.0

    def __post_init__(self) -> None:
        _check_positive_int("batch_size", self.batch_size)
        _check_positive_int("max_queue_size", self.max_queue_size)
        for name in ("batch_flush_interval", "session_timeout", "export_timeout"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (math.isfinite(value) and value > 0)
            ):
                raise ConfigurationError(
                    f"{name} must be a positive number of seconds; got {value!r}"
                )
        if (
            isinstance(self.sample_rate, bool)
            or not isinstance(self.sample_rate, (int, float))
            or not (0.0 <= self.sample_rate <= 1.0)
        ):
            raise ConfigurationError(
                f"sample_rate must be between 0 and 1; got {self.sample_rate!r}"
            )
        for name in ("max_prompt_chars", "max_response_chars", "max_text_chars"):
            value = getattr(self, name)
            if value is not None:
                _check_positive_int(name, value, minimum=64)
        if self.max_context_messages is not None:
            _check_positive_int("max_context_messages", self.max_context_messages, minimum=0)
        if not isinstance(self.backend, StorageBackend):
            try:
                object.__setattr__(self, "backend", StorageBackend(self.backend))
            except ValueError:
                allowed = ", ".join(b.value for b in StorageBackend)
                raise ConfigurationError(
                    f"Unsupported storage backend: {self.backend!r}; allowed: {allowed}"
                ) from None
        if self.backend is StorageBackend.CUSTOM and self.store is None:
            raise ConfigurationError(
                "Custom storage backend implementation required: pass store=<object with the "
                "rlhf_otel.stores.Store methods>"
            )
        if self.store is not None and not isinstance(self.store, Store):
            raise ConfigurationError(
                f"store {type(self.store).__name__} lacks the Store methods (write, "
                "get_interaction, get_feedback, scan_interactions, scan_feedback, close)"
            )
        if self.backend is StorageBackend.ZERODB and not self.zerodb_project_id:
            raise ConfigurationError(
                "ZeroDB backend config is required when using ZERODB storage: pass "
                "zerodb_project_id=... (or set ZERODB_PROJECT_ID)"
            )
        if not isinstance(self.default_metadata, Mapping):
            raise ConfigurationError("default_metadata must be a mapping of str to JSON values")
        if callable(self.redact):
            object.__setattr__(self, "redact", (self.redact,))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **explicit: Any) -> RLHFConfig:
        """Build a config: ``explicit`` arguments win over the environment, which wins over
        the defaults.

        Raises:
            ConfigurationError: an unknown argument or an environment value of the wrong type.
        """
        environ = os.environ if environ is None else environ
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(explicit) - set(known))
        if unknown:
            raise ConfigurationError(
                f"unknown logger option(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(known))}"
            )
        values = dict(explicit)
        for name, var in ENV_VARS.items():
            if name in values or var not in environ:
                continue
            values[name] = _parse_env(name, var, environ[var], known[name].type)
        return cls(**values)


def _check_positive_int(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be an int >= {minimum}; got {value!r}")


def _parse_env(name: str, var: str, raw: str, annotation: object) -> Any:
    kind = str(annotation)
    try:
        if kind.startswith("bool"):
            low = raw.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError(raw)
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError:
        raise ConfigurationError(
            f"environment variable {var}={raw!r} is not a valid {kind} for {name}"
        ) from None
    return raw
