"""SessionDesk: the logger's sessions, and who a record belongs to."""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from rlhf_otel import _validate as V
from rlhf_otel._config import RLHFConfig
from rlhf_otel._errors import ValidationError
from rlhf_otel._redact import ContentPolicy
from rlhf_otel._session import SessionManager
from rlhf_otel.records import FeedbackSession

__all__ = ["SessionDesk"]

_log = logging.getLogger("rlhf_otel")


class SessionDesk:
    """Starts and ends a logger's sessions and stamps records with their user and session.

    Args:
        sessions: the session manager (shared with the recording handler).
        content: the content policy (user and session ids pass its redaction).
        config: ``allow_anonymous`` and ``debug`` apply.
    """

    def __init__(
        self, sessions: SessionManager, content: ContentPolicy, config: RLHFConfig
    ) -> None:
        self.sessions = sessions
        self._content = content
        self._config = config

    def start(self, user_id: str | None, metadata: Mapping[str, Any] | None) -> str:
        """Start a session current in this context; returns its id."""
        session = self.sessions.start(V.identifier("user_id", user_id), V.metadata(metadata))
        if self._config.debug:
            _log.debug("Started session: %s", session.id)
        return session.id

    def end(self) -> FeedbackSession | None:
        """End this context's session; returns it or ``None``."""
        session = self.sessions.end()
        if session is not None and self._config.debug:
            _log.debug("Ended session: %s", session.id)
        return session

    def current(self) -> FeedbackSession | None:
        """A copy of this context's current session, or ``None``."""
        session = self.sessions.current()
        return None if session is None else copy.deepcopy(session)

    @contextlib.contextmanager
    def scoped(
        self, user_id: str | None, metadata: Mapping[str, Any] | None
    ) -> Iterator[FeedbackSession]:
        """A session for one ``with`` block in this context."""
        user = V.identifier("user_id", user_id)
        with self.sessions.scoped(user, V.metadata(metadata)) as session:
            yield session

    def who(
        self, user_id: object, session_id: object
    ) -> tuple[str | None, str | None, FeedbackSession | None]:
        """The user id, session id and session a record logged now carries.

        Raises:
            ValidationError: an id is not allowed, or no user with ``allow_anonymous=False``.
        """
        user = None if user_id is None else V.identifier("user_id", user_id)
        sid = None if session_id is None else V.identifier("session_id", session_id)
        session = self.sessions.touch()
        if session is not None:
            user = user or session.user_id
            sid = sid or session.id
        user, sid = self._content.ident(user), self._content.ident(sid)
        if user is None and not self._config.allow_anonymous:
            raise ValidationError(
                "a user id is required (allow_anonymous=False): pass user_id=... or log inside "
                "a session started with a user id"
            )
        return user, sid, session
