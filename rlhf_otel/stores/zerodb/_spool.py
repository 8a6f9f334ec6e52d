"""The ZeroDB store's local spool: JSONL files of schema records, replayed once by any process.

Each process appends to its own ``spool-<pid>-<token>-<n>.jsonl`` while holding an exclusive
``flock`` on it, one record per line in the record schema (the JSONL store's format). A
replayer claims a file by locking it and renaming it to ``*.replaying``; a claimed file whose
lock is free again (its replayer died) is claimed anew. A file is deleted once replayed.
Spool files hold prompts: they are created 0600, and every folder the spool creates 0700,
whatever the umask.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import secrets
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per spool folder
    fcntl = None  # type: ignore[assignment]  # absent module; guarded at each use

__all__ = ["Claim", "Spool"]

_LOG = logging.getLogger("rlhf_otel.stores.zerodb")
MAX_FILE_BYTES: Final = 16 << 20
FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700
_SUFFIX: Final = ".jsonl"
_CLAIMED: Final = ".replaying"


def _try_lock(fd: int) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


@dataclass(slots=True)
class Claim:
    """A spool file being replayed: its lines from ``start`` on are still to be delivered."""

    name: str
    path: Path
    lines: list[str]
    start: int
    own: bool
    handle: IO[bytes] = field(repr=False)


class Spool:
    """Durable overflow for records the service could not take; thread-safe."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self._path = path
        self._max_bytes = max_bytes
        self._token = secrets.token_hex(4)
        self._lock = threading.Lock()
        self._serial = itertools.count()
        self._file: IO[bytes] | None = None
        self._file_name = ""
        self._file_bytes = 0
        self._own: dict[str, list[int]] = {}
        self._bytes: int | None = None
        self.last_error: str | None = None

    @property
    def path(self) -> Path:
        """The spool folder."""
        return self._path

    def own_pending(self) -> int:
        """Records this process spooled that are not yet replayed."""
        with self._lock:
            return sum(total - done for total, done in self._own.values())

    def _current_bytes(self) -> int:
        if self._bytes is None:
            self._bytes = sum(p.stat().st_size for p in self._files()) if self._path.is_dir() else 0
        return self._bytes

    def _files(self) -> list[Path]:
        try:
            entries = list(os.scandir(self._path))
        except FileNotFoundError:
            return []
        found = [
            Path(e.path)
            for e in entries
            if e.name.startswith("spool-") and e.name.endswith((_SUFFIX, _SUFFIX + _CLAIMED))
        ]
        return sorted(found, key=lambda p: (_mtime(p), p.name))

    def append(self, lines: Sequence[str]) -> bool:
        """Write ``lines`` durably; ``False`` (with ``last_error``) when full or on I/O errors."""
        if not lines:
            return True
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        with self._lock:
            if self._current_bytes() + len(data) > self._max_bytes:
                self.last_error = f"spool {self._path} is full ({self._max_bytes} bytes)"
                return False
            try:
                handle = self._writer(len(data))
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                self.last_error = f"cannot write spool {self._path}: {exc}"
                return False
            self._file_bytes += len(data)
            self._bytes = self._current_bytes() + len(data)
            self._own.setdefault(self._file_name, [0, 0])[0] += len(lines)
            return True

    def _writer(self, incoming: int) -> IO[bytes]:
        if self._file is not None and self._file_bytes + incoming > MAX_FILE_BYTES:
            self._close_writer()
        if self._file is None:
            _private_dirs(self._path)
            name = f"spool-{os.getpid()}-{self._token}-{next(self._serial)}{_SUFFIX}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
            fd = os.open(self._path / name, flags | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
            handle = os.fdopen(fd, "ab")
            _try_lock(handle.fileno())
            self._file, self._file_name, self._file_bytes = handle, name, 0
        return self._file

    def _close_writer(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def rotate(self) -> None:
        """Close this process's open spool file so a replayer can claim it."""
        with self._lock:
            self._close_writer()

    def claimable(self) -> bool:
        """Whether any spool file (of any process) may be waiting."""
        with self._lock:
            return any(p.name != self._file_name or self._file is None for p in self._files())

    def claim(self) -> Claim | None:
        """Lock and take the oldest spool file not being written or replayed elsewhere."""
        with self._lock:
            for path in self._files():
                name = path.name.removesuffix(_CLAIMED)
                if self._file is not None and name == self._file_name:
                    continue
                claim = self._claim(path, name)
                if claim is not None:
                    return claim
            return None

    def _claim(self, path: Path, name: str) -> Claim | None:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - the lock lives as long as the claim
        except OSError:
            return None
        try:
            if not _try_lock(handle.fileno()) or not _same_file(handle, path):
                handle.close()
                return None
            claimed = path if path.name.endswith(_CLAIMED) else path.with_name(name + _CLAIMED)
            if claimed != path:
                os.rename(path, claimed)
            raw = handle.read().decode("utf-8", errors="replace")
        except OSError as exc:
            handle.close()
            self.last_error = f"cannot read spool file {path.name}: {exc}"
            return None
        lines = raw.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        own = self._own.get(name)
        start = own[1] if own is not None else 0
        return Claim(
            name=name, path=claimed, lines=lines, start=start, own=own is not None, handle=handle
        )

    def progress(self, claim: Claim, settled: int) -> None:
        """Record that ``claim.lines[:settled]`` are delivered or dropped."""
        with self._lock:
            claim.start = settled
            own = self._own.get(claim.name)
            if own is not None:
                own[1] = min(settled, own[0])

    def finish(self, claim: Claim) -> None:
        """Delete a fully replayed file."""
        with self._lock:
            with contextlib.suppress(OSError):
                size = claim.path.stat().st_size
                claim.path.unlink()
                if self._bytes is not None:
                    self._bytes = max(self._bytes - size, 0)
            claim.handle.close()
            self._own.pop(claim.name, None)

    def release(self, claim: Claim) -> None:
        """Give a claim back unfinished; it stays on disk for a later replay."""
        with self._lock:
            claim.handle.close()

    def forget_vanished(self) -> int:
        """Own files another process replayed meanwhile: stop counting them, return how many."""
        with self._lock:
            present = {p.name.removesuffix(_CLAIMED) for p in self._files()}
            gone = [n for n in self._own if n not in present and n != self._file_name]
            count = sum(self._own[n][0] - self._own[n][1] for n in gone)
            for n in gone:
                del self._own[n]
            return count

    def close(self) -> None:
        """Close the open spool file (its records stay for the next process)."""
        self.rotate()


def _private_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents 0700; the spool's own two levels are made
    0700 even if an earlier version created them with the umask's mode."""
    missing = []
    p = path
    while not p.is_dir():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, DIR_MODE)  # a umask may take bits away even from 0700
    for folder in (path, path.parent):
        with contextlib.suppress(OSError):
            if stat.S_IMODE(os.stat(folder).st_mode) != DIR_MODE:
                os.chmod(folder, DIR_MODE)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _same_file(handle: IO[bytes], path: Path) -> bool:
    try:
        mine = os.fstat(handle.fileno())
        now = os.stat(path)
    except OSError:
        return False
    return mine.st_nlink > 0 and (mine.st_ino, mine.st_dev) == (now.st_ino, now.st_dev)
