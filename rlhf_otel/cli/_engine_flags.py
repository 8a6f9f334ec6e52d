"""``--memory-limit``, ``--threads`` and ``--temp-dir``: the analytics engine's resources."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from rlhf_otel._env import ANALYTICS_MEMORY_LIMIT, ANALYTICS_TEMP_DIR, ANALYTICS_THREADS

__all__ = ["add_engine_flags", "engine_scope"]


def _threads(raw: str) -> int:
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1; got {raw!r}")
    return n


def add_engine_flags(p: argparse.ArgumentParser) -> None:
    """Add the engine flags to a command that runs the analytics engine."""
    g = p.add_argument_group("analytics engine")
    g.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help=f"engine memory limit, e.g. 512MB, 2GB (default ${ANALYTICS_MEMORY_LIMIT} or 512MB)",
    )
    g.add_argument(
        "--threads",
        type=_threads,
        metavar="N",
        help=f"engine threads (default ${ANALYTICS_THREADS} or the cores)",
    )
    g.add_argument(
        "--temp-dir",
        metavar="DIR",
        help=f"where the engine spills (default ${ANALYTICS_TEMP_DIR} or the system temp)",
    )


@contextlib.contextmanager
def engine_scope(args: argparse.Namespace) -> Iterator[None]:
    """Engines opened within the block use the flags given (others: environment, defaults)."""
    memory = getattr(args, "memory_limit", None)
    threads = getattr(args, "threads", None)
    temp = getattr(args, "temp_dir", None)
    if memory is None and threads is None and temp is None:
        yield
        return
    from rlhf_otel.analytics import EngineConfig, engine_defaults

    with engine_defaults(EngineConfig(memory_limit=memory, threads=threads, temp_dir=temp)):
        yield
