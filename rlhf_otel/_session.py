"""Sessions kept per context (thread / asyncio task), with a process-wide default."""

from __future__ import annotations

import contextlib
import copy
import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Final

from rlhf_otel.records import FeedbackSession, utc_now

__all__ = ["SessionManager"]

_ENDED: Final = FeedbackSession(id="", start_time=utc_now())
_counter = itertools.count()


class SessionManager:
    """Which session a record belongs to.

    A session started with :meth:`start` (or the ``session()`` context manager) is current
    in the calling context only: concurrent requests on threads or asyncio tasks each have
    their own. Contexts that never started one use the process-wide default session (the
    one ``initialize()`` starts). A session idle for longer than ``timeout`` seconds is ended
    and replaced by a new one (same user and metadata) on the next record.
    """

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._var: ContextVar[FeedbackSession | None] = ContextVar(
            f"rlhf_otel_session_{next(_counter)}", default=None
        )
        self._default: FeedbackSession | None = None
        self._last_seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def _new(self, user_id: str | None, metadata: dict[str, Any] | None) -> FeedbackSession:
        session = FeedbackSession(
            id=str(uuid.uuid4()), start_time=utc_now(), user_id=user_id, metadata=metadata or {}
        )
        self._last_seen[session.id] = time.monotonic()
        return session

    def _end(self, session: FeedbackSession) -> FeedbackSession:
        session.end_time = utc_now()
        self._last_seen.pop(session.id, None)
        return session

    def current(self) -> FeedbackSession | None:
        """The live session of this context (``None`` when there is none)."""
        session = self._var.get()
        if session is _ENDED:
            return None
        return session if session is not None else self._default

    def start(
        self,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        default: bool = False,
    ) -> FeedbackSession:
        """End this context's session and make a new one current (or the default one)."""
        with self._lock:
            if default:
                if self._default is not None:
                    self._end(self._default)
                self._default = self._new(user_id, metadata)
                return self._default
            old = self._var.get()
            if old is not None and old is not _ENDED:
                self._end(old)
            session = self._new(user_id, metadata)
        self._var.set(session)
        return session

    def end(self) -> FeedbackSession | None:
        """End this context's session; returns a copy of it, or ``None`` if there was none."""
        with self._lock:
            session = self._var.get()
            if session is _ENDED:
                return None
            if session is not None:
                self._var.set(_ENDED)
            elif self._default is not None:
                session, self._default = self._default, None
            else:
                return None
            return copy.deepcopy(self._end(session))

    @contextlib.contextmanager
    def scoped(
        self, user_id: str | None, metadata: dict[str, Any] | None
    ) -> Iterator[FeedbackSession]:
        """A new session current in this context for a ``with`` block, ended after it."""
        session = self._new(user_id, metadata)
        token = self.bind(session)
        try:
            yield session
        finally:
            self.reset(token)
            self._end(session)

    def bind(self, session: FeedbackSession | None) -> Any:
        """Make ``session`` current in this context; returns a token for :meth:`reset`."""
        return self._var.set(session)

    def reset(self, token: Any) -> None:
        """Undo :meth:`bind`."""
        self._var.reset(token)

    def touch(self) -> FeedbackSession | None:
        """The session a record logged now belongs to, replacing an expired one first."""
        session = self.current()
        if session is None:
            return None
        now = time.monotonic()
        last = self._last_seen.get(session.id)
        if last is not None and now - last > self._timeout:
            with self._lock:
                if self._last_seen.get(session.id) == last:
                    replacement = self._new(session.user_id, dict(session.metadata))
                    self._end(session)
                    if self._var.get() is session:
                        self._var.set(replacement)
                    elif self._default is session:
                        self._default = replacement
                    session = replacement
                else:
                    session = self.current() or session
        self._last_seen[session.id] = now
        return session

    def end_all(self) -> None:
        """End the default session (at close)."""
        with self._lock:
            if self._default is not None:
                self._end(self._default)
                self._default = None
