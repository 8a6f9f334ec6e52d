"""What the ZeroDB store's writer, sender and flush share, and the status they report."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from rlhf_otel.stores.zerodb._rows import Row

__all__ = ["SenderState", "ZeroDBStatus"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ZeroDBStatus:
    """A snapshot of the ZeroDB store's delivery pipeline.

    ``accepted == delivered + sum(dropped) + spooled + queued + in_flight`` for the records
    this store was given (``dropped`` also counts losses while replaying an earlier
    process's spool, ``replayed`` counts every record delivered from a spool).
    """

    accepted: int
    delivered: int
    queued: int
    in_flight: int
    spooled: int
    replayed: int
    dropped: Mapping[str, int]
    requests: int
    healthy: bool
    last_error: str | None
    gzip: bool
    spool_dir: str | None


@dataclass(slots=True)
class SenderState:
    """What the writer, the sender and flush share; guarded by ``cv``."""

    cv: threading.Condition = field(default_factory=threading.Condition)
    queue: deque[Row] = field(default_factory=deque)
    inflight: list[Row] = field(default_factory=list)
    accepted: int = 0
    delivered: int = 0
    replayed: int = 0
    healthy: bool = True
    down_until: float = 0.0
    last_error: str | None = None
    urgent: int = 0
    stop: bool = False
    spool_dirty: bool = True
    failing: bool = False
    """The batch being sent has failed at least once and is being retried."""
    abandoned: bool = False
    """``stop`` gave up waiting for the thread and spooled its in-flight rows itself."""

    def has_work(self) -> bool:
        """Whether records are queued or being sent."""
        with self.cv:
            return bool(self.queue or self.inflight)
