"""Who may review: per-reviewer tokens (a file of token digests) and the sign-in rate limit."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from rlhf_otel._errors import ValidationError

__all__ = [
    "REVIEWER_NAME",
    "ReviewerTokens",
    "SignInLimiter",
    "mint_reviewer_token",
    "token_digest",
]

REVIEWER_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_DIGEST: Final = re.compile(r"sha256:[0-9a-f]{64}")
_TOKEN_PREFIX: Final = "rvt_"


def token_digest(token: str) -> str:
    """What the reviewers file keeps of a token (never the token itself)."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


class ReviewerTokens:
    """Reviewer id per token, read from a reviewers file.

    The file has one reviewer a line, ``<reviewer id> sha256:<hex digest of the token>``;
    blank lines and ``#`` comments are skipped. ``rlhf-otel review-token`` writes it.

    Raises:
        ValidationError: a line is not ``id digest``, an id repeats or is not allowed.
    """

    def __init__(self, digests: Mapping[str, str]) -> None:
        self._by_digest = dict(digests)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReviewerTokens:
        """Read a reviewers file (see the class docstring)."""
        return cls(_parse(Path(path)))

    def __len__(self) -> int:
        return len(self._by_digest)

    def reviewer_of(self, token: object) -> str | None:
        """The reviewer id of ``token``, or ``None`` when it is not one of the file's."""
        if not isinstance(token, str) or not token or len(token) > 256:
            return None
        return self._by_digest.get(token_digest(token))


def _parse(path: Path) -> dict[str, str]:
    by_digest: dict[str, str] = {}
    names: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split()
        if len(parts) != 2 or _DIGEST.fullmatch(parts[1]) is None:
            raise ValidationError(
                f"{path}:{n}: expected '<reviewer id> sha256:<64 hex digits>' "
                "(write it with rlhf-otel review-token NAME --reviewers FILE)"
            )
        name, digest = parts
        if REVIEWER_NAME.fullmatch(name) is None:
            raise ValidationError(
                f"{path}:{n}: reviewer id {name!r} must be 1-64 of A-Z a-z 0-9 . _ @ - "
                "starting with a letter or digit"
            )
        if name in names:
            raise ValidationError(f"{path}:{n}: reviewer id {name!r} appears twice")
        names.add(name)
        by_digest[digest] = name
    return by_digest


def mint_reviewer_token(path: str | os.PathLike[str], reviewer: str, *, replace: bool) -> str:
    """Add ``reviewer`` to the reviewers file (created owner-only) and return its new token.

    The token is shown once; the file keeps only its digest.

    Raises:
        ValidationError: the id is not allowed, or is already in the file and not ``replace``.
    """
    if REVIEWER_NAME.fullmatch(reviewer) is None:
        raise ValidationError(
            f"reviewer id {reviewer!r} must be 1-64 of A-Z a-z 0-9 . _ @ - "
            "starting with a letter or digit"
        )
    p = Path(path)
    lines = p.read_text(encoding="utf-8").splitlines() if p.exists() else []
    if p.exists():
        _parse(p)
    kept = []
    for line in lines:
        if line.strip().split(" ", 1)[0] == reviewer:
            if not replace:
                raise ValidationError(
                    f"reviewer {reviewer!r} already has a token in {p}; pass --replace to "
                    "give them a new one (the old one stops working)"
                )
            continue
        kept.append(line)
    token = _TOKEN_PREFIX + secrets.token_urlsafe(24)
    kept.append(f"{reviewer} {token_digest(token)}")
    fd = os.open(p.with_name(p.name + ".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(kept) + "\n")
    os.replace(p.with_name(p.name + ".tmp"), p)
    return token


class SignInLimiter:
    """At most ``limit`` wrong sign-ins per address in ``window`` seconds; then 429 until
    the oldest failure leaves the window (right tokens included, so guessing stops)."""

    def __init__(
        self,
        limit: int = 30,
        window: float = 600.0,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, address: str) -> float:
        """Seconds ``address`` must wait before another sign-in (0: it may try now)."""
        now = self._clock()
        with self._lock:
            q = self._failures.get(address)
            if q is None:
                return 0.0
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) < self.limit:
                return 0.0
            return q[0] + self.window - now

    def failed(self, address: str) -> None:
        """Count one wrong sign-in from ``address``."""
        now = self._clock()
        with self._lock:
            q = self._failures.pop(address, None) or deque()
            q.append(now)
            self._failures[address] = q
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)
