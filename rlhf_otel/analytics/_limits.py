"""The analytics engine's resources: memory limit, threads, spill directory, and retries.

DuckDB works within ``memory_limit`` and spills to disk beyond it, but an operator can still
fail to get memory when several threads each hold their own buffers (``OutOfMemoryException``).
Such a statement is retried with half the threads, down to one, within the same limit.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from rlhf_otel._env import ANALYTICS_MEMORY_LIMIT, ANALYTICS_TEMP_DIR, ANALYTICS_THREADS
from rlhf_otel._errors import ConfigurationError

__all__ = ["EngineConfig", "GuardedConnection", "engine_defaults"]

_log = logging.getLogger("rlhf_otel.analytics")


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """Resources of the analytics engine.

    Each field: this value, else the one set by :func:`engine_defaults` (the CLI's
    ``--memory-limit``, ``--threads``, ``--temp-dir``), else the environment, else the default.

    Args:
        memory_limit: DuckDB's memory limit; beyond it, work spills to disk. Default
            ``$RLHF_OTEL_ANALYTICS_MEMORY_LIMIT`` or ``"512MB"``.
        threads: worker threads (a statement that runs out of memory is retried with half
            as many, down to one). Default ``$RLHF_OTEL_ANALYTICS_THREADS`` or the cores.
        temp_dir: where the engine creates its private (0700) directory for spill files
            and its database file. Default ``$RLHF_OTEL_ANALYTICS_TEMP_DIR`` or the system
            temp directory.
    """

    memory_limit: str | None = None
    threads: int | None = None
    temp_dir: str | None = None

    def resolved(self) -> tuple[str, int, str | None]:
        """``(memory_limit, threads, temp_dir)`` after defaults, environment and fallbacks."""
        outer = _DEFAULTS.get()
        memory = (
            self.memory_limit
            or (outer and outer.memory_limit)
            or os.environ.get(ANALYTICS_MEMORY_LIMIT)
            or "512MB"
        )
        threads = self.threads if self.threads is not None else outer and outer.threads
        if threads is None:
            raw = os.environ.get(ANALYTICS_THREADS)
            try:
                threads = int(raw) if raw else (os.cpu_count() or 1)
            except ValueError:
                raise ConfigurationError(
                    f"{ANALYTICS_THREADS} must be a whole number of threads; got {raw!r}"
                ) from None
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigurationError(f"threads must be a whole number >= 1; got {threads!r}")
        temp = (
            self.temp_dir
            or (outer and outer.temp_dir)
            or os.environ.get(ANALYTICS_TEMP_DIR)
            or None
        )
        return memory, threads, temp


_DEFAULTS: ContextVar[EngineConfig | None] = ContextVar("rlhf_otel_engine", default=None)


@contextlib.contextmanager
def engine_defaults(config: EngineConfig) -> Iterator[None]:
    """Within the block, engines opened without a value use ``config``'s (the CLI flags)."""
    token = _DEFAULTS.set(config)
    try:
        yield
    finally:
        _DEFAULTS.reset(token)


class GuardedConnection:
    """A DuckDB connection whose ``execute`` retries a statement that ran out of memory.

    Each retry halves the threads (down to one) and is logged and counted in
    :attr:`retries`; the memory limit stays as configured. A failed statement has no effect
    (DuckDB rolls it back), so running it again is safe. Other attributes are the
    connection's own.
    """

    def __init__(self, con: Any, duckdb: Any, memory_limit: str, threads: int) -> None:
        self.raw = con
        """The connection itself (for a statement that cannot be run twice)."""
        self._con = con
        self._oom: type[BaseException] = duckdb.OutOfMemoryException
        self._memory = memory_limit
        self.threads = threads
        self.retries = 0

    def execute(self, query: str, params: Any = None) -> Any:
        """Run one statement; retried with fewer threads when DuckDB runs out of memory."""
        while True:
            try:
                return self._con.execute(query, params or [])
            except self._oom as exc:
                if self.threads <= 1:
                    raise
                try:
                    self._con.execute(f"SET threads = {max(1, self.threads // 2)}")
                except Exception:  # a locked configuration (sql): the step fails as it was
                    raise exc from None
                self.threads = max(1, self.threads // 2)
                self.retries += 1
                _log.warning(
                    "rlhf-otel analytics: out of memory within memory_limit=%s (%s); "
                    "retrying the step with %d thread(s)",
                    self._memory,
                    str(exc).splitlines()[0][:200],
                    self.threads,
                )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)
