"""Configuration of the ZeroDB store: the frozen config, its env variables, the key wrapper."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from rlhf_otel import _env
from rlhf_otel._errors import ConfigurationError

__all__ = [
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_PROJECT_ID",
    "ENV_SPOOL_DIR",
    "MAX_ROWS_PER_REQUEST",
    "Secret",
    "ZeroDBConfig",
]

ENV_API_KEY: Final = _env.ZERODB_API_KEY
ENV_PROJECT_ID: Final = _env.ZERODB_PROJECT_ID
ENV_BASE_URL: Final = _env.ZERODB_BASE_URL
ENV_SPOOL_DIR: Final = _env.ZERODB_SPOOL_DIR

DEFAULT_BASE_URL: Final = "https://api.ainative.studio"
MAX_ROWS_PER_REQUEST: Final = 1000
"""The tables API rejects inserts of more rows than this in one request."""


class Secret:
    """A string that never shows itself: ``repr``, ``str`` and pickling all hide it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself; only the HTTP layer calls this, to set the header."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled (it would write the API key to a file)")


def _default_spool_root() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join("~", ".local", "state")
    return Path(state).expanduser() / "rlhf-otel" / "zerodb-spool"


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number of seconds; got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        allowed = ">= 0" if allow_zero else "> 0"
        raise ConfigurationError(f"{name} must be {allowed}; got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ZeroDBConfig:
    """How the ZeroDB store reaches the service and what it does when it cannot.

    Args:
        project_id: the ZeroDB project; default ``$ZERODB_PROJECT_ID``. Required.
        api_key: the API key sent as ``X-API-Key``; default ``$ZERODB_API_KEY``. Required.
            Held as a :class:`Secret`: never shown by ``repr``, logs, errors or files.
        table_name: the table holding interactions and feedback (``"rlhf_feedback"``).
        vector_table_name: the table holding caller-supplied embeddings (``"rlhf_vectors"``).
        base_url: service root; default ``$RLHF_OTEL_ZERODB_BASE_URL`` or
            ``https://api.ainative.studio``. ``/api/v1`` is appended unless the URL already
            contains ``/api/`` (as the official SDK does).
        connect_timeout: seconds to open a connection (5).
        request_timeout: seconds to wait for a response once connected (30).
        retry_budget: seconds one batch may spend in attempts and backoff before it is
            spooled (60).
        max_attempts: attempts per batch within the budget (8).
        backoff_base: first backoff ceiling; attempt ``n`` sleeps a uniform random time in
            ``[0, min(backoff_max, backoff_base * 2**n)]`` (full jitter) (0.5).
        backoff_max: the largest backoff ceiling (30).
        retry_after_max: the longest ``Retry-After`` honoured; longer values are capped (60).
        batch_size: rows per insert request, 1..1000 (1000).
        linger: seconds the sender waits for a fuller batch before sending a partial one (0.05).
        max_queue: records held in memory awaiting delivery; past it, new records go
            straight to the spool (100,000).
        compression: ``"auto"`` sends gzip bodies and falls back to plain JSON for good if the
            service answers 415; ``"gzip"`` always compresses; ``"none"`` never does.
        spool: whether to spool undeliverable records to disk (True). Without it they are
            dropped and counted as ``"unavailable"``.
        spool_dir: where spool files go; default ``$RLHF_OTEL_ZERODB_SPOOL_DIR`` or
            ``$XDG_STATE_HOME/rlhf-otel/zerodb-spool``; a sub-folder per project and table.
        spool_max_bytes: the most bytes of spool kept; past it records are dropped and counted
            as ``"spool_full"`` (1 GiB).
        probe_interval: while the service is unreachable, seconds between attempts to reach
            it again (5).
        flush_timeout: what ``flush(None)`` and ``close()`` wait at most (30).
        read_budget: seconds a read may spend in attempts and backoff before it fails (15).
        page_size: rows per query page when reading, 1..1000 (1000).
    """

    project_id: str | None = None
    api_key: str | Secret | None = field(default=None, repr=False)
    table_name: str = "rlhf_feedback"
    vector_table_name: str = "rlhf_vectors"
    base_url: str | None = None
    connect_timeout: float = 5.0
    request_timeout: float = 30.0
    retry_budget: float = 60.0
    max_attempts: int = 8
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    batch_size: int = MAX_ROWS_PER_REQUEST
    linger: float = 0.05
    max_queue: int = 100_000
    compression: Literal["auto", "gzip", "none"] = "auto"
    spool: bool = True
    spool_dir: str | os.PathLike[str] | None = None
    spool_max_bytes: int = 1 << 30
    probe_interval: float = 5.0
    flush_timeout: float = 30.0
    read_budget: float = 15.0
    page_size: int = MAX_ROWS_PER_REQUEST

    def __post_init__(self) -> None:
        project = self.project_id or os.environ.get(ENV_PROJECT_ID)
        if not project:
            raise ConfigurationError(
                f"ZeroDB needs a project_id: pass project_id= or set ${ENV_PROJECT_ID}"
            )
        key = self.api_key if self.api_key is not None else os.environ.get(ENV_API_KEY)
        if not key:
            raise ConfigurationError(
                f"ZeroDB needs an API key: pass api_key= or set ${ENV_API_KEY}"
            )
        base = self.base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
        if not base.startswith(("http://", "https://")):
            raise ConfigurationError(f"base_url must start with http:// or https://; got {base!r}")
        object.__setattr__(self, "project_id", project)
        object.__setattr__(self, "api_key", key if isinstance(key, Secret) else Secret(key))
        object.__setattr__(self, "base_url", base.rstrip("/"))
        for name in ("table_name", "vector_table_name"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or "/" in value:
                raise ConfigurationError(
                    f"{name} must be a non-empty name without '/'; got {value!r}"
                )
        for name in (
            "connect_timeout",
            "request_timeout",
            "retry_budget",
            "backoff_base",
            "backoff_max",
            "probe_interval",
            "flush_timeout",
            "read_budget",
        ):
            _positive(name, getattr(self, name))
        _positive("retry_after_max", self.retry_after_max, allow_zero=True)
        _positive("linger", self.linger, allow_zero=True)
        for name, low, high in (
            ("batch_size", 1, MAX_ROWS_PER_REQUEST),
            ("page_size", 1, MAX_ROWS_PER_REQUEST),
            ("max_attempts", 1, 1000),
            ("max_queue", 1, 1 << 40),
            ("spool_max_bytes", 0, 1 << 50),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigurationError(f"{name} must be an int in {low}..{high}; got {value!r}")
        if self.compression not in ("auto", "gzip", "none"):
            raise ConfigurationError(
                f"compression must be 'auto', 'gzip' or 'none'; got {self.compression!r}"
            )

    @property
    def secret(self) -> Secret:
        """The API key, wrapped."""
        assert isinstance(self.api_key, Secret)
        return self.api_key

    @property
    def api_root(self) -> str:
        """``{base_url}/api/v1`` (or ``base_url`` itself when it already names ``/api/``)."""
        assert self.base_url is not None
        return self.base_url if "/api/" in self.base_url else self.base_url + "/api/v1"

    @property
    def spool_path(self) -> Path:
        """The folder of this project's and table's spool files."""
        root = Path(self.spool_dir) if self.spool_dir is not None else None
        if root is None:
            env = os.environ.get(ENV_SPOOL_DIR)
            root = Path(env) if env else _default_spool_root()
        return root.expanduser() / _safe(str(self.project_id)) / _safe(self.table_name)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"
