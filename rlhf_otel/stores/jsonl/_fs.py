"""File-system primitives of the JSONL store: one directory, no symlinks, private modes."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from rlhf_otel._errors import ConfigurationError
from rlhf_otel.stores.jsonl._format import SegmentName, parse_name

__all__ = ["DataDir", "Listing", "NotRegularFile", "drop_reason", "write_all"]

FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700
# O_NONBLOCK: opening a FIFO planted under one of our names must not wait for a peer (it
# has no effect on the regular files we then insist on).
_NOFOLLOW: Final = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
MAINTENANCE_LOCK: Final = ".maintenance.lock"


class NotRegularFile(FileNotFoundError):
    """One of the store's names is something else (a FIFO, a socket, a device, a folder):
    treated as absent, and counted."""


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` (the seam where a full disk shows up as ``OSError``)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def drop_reason(exc: OSError) -> str:
    """The drop-count reason for a failed write."""
    if exc.errno == errno.ENOSPC:
        return "disk_full"
    if exc.errno == errno.EDQUOT:
        return "disk_quota"
    return "io_error"


@dataclass(frozen=True, slots=True)
class Listing:
    """One look at the directory: segments by kind (oldest first) and other own files."""

    segments: dict[str, list[tuple[SegmentName, str]]]
    """kind -> [(parsed name, file name)] for active, plain and compressed segments."""
    others: list[tuple[SegmentName, str]]
    """Indexes, torn fragments and temporary files."""
    writers: set[str]
    """Writer ids that have a lock file."""
    unborn: list[str]
    """Lock files of writers that died while starting (``.writer-*.lock.new``)."""


class DataDir:
    """The store's directory, held open; every file is reached through it by bare name.

    Names come only from :func:`parse_name`-shaped strings this package builds, so no id or
    session name ever becomes part of a path, and ``O_NOFOLLOW`` refuses symlinks.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        on_strange: Callable[[str], None] | None = None,
    ) -> None:
        self._on_strange = on_strange
        p = Path(os.fspath(path)).expanduser()
        try:
            p.mkdir(mode=DIR_MODE, parents=True)
        except FileExistsError:
            pass
        except OSError as exc:
            raise ConfigurationError(
                f"data_dir {str(p)!r} cannot be created ({exc.strerror}); give a writable "
                "directory path"
            ) from exc
        if not p.is_dir():
            raise ConfigurationError(f"data_dir {str(p)!r} exists and is not a directory")
        self.path = p
        self.fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        # scandir(fd) reads through a duplicate that shares the directory offset: two
        # threads listing at once would see entries twice or not at all
        self._list_lock = threading.Lock()

    def close(self) -> None:
        """Release the directory handle."""
        with contextlib.suppress(OSError):
            os.close(self.fd)

    # ------------------------------------------------------------------ files
    def strange(self, name: str) -> None:
        """Report a non-regular file under one of the store's names."""
        if self._on_strange is not None:
            self._on_strange(name)

    def _regular(self, name: str, flags: int, mode: int = FILE_MODE) -> int:
        try:
            fd = os.open(name, flags | _NOFOLLOW, mode, dir_fd=self.fd)
        except OSError as exc:
            # ENXIO: a FIFO with no reader opened for writing; EISDIR: a folder
            if exc.errno in (errno.ENXIO, errno.EISDIR, errno.ENODEV, errno.EOPNOTSUPP):
                self.strange(name)
                raise NotRegularFile(errno.ENOENT, f"{name} is not a regular file") from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            self.strange(name)
            raise NotRegularFile(errno.ENOENT, f"{name} is not a regular file")
        return fd

    def open_read(self, name: str) -> int:
        """A read-only descriptor of a regular file (``FileNotFoundError`` if gone or not
        a regular file)."""
        return self._regular(name, os.O_RDONLY)

    def create(self, name: str, *, append: bool = False) -> int:
        """Create ``name`` exclusively, mode 0600 (``FileExistsError`` if it exists)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        if append:
            flags |= os.O_APPEND
        return self._regular(name, flags)

    def open_append(self, name: str) -> int:
        """Open or create ``name`` for appending, mode 0600."""
        return self._regular(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def open_rw(self, name: str) -> int:
        """Open an existing file for reading and writing (truncation during repair)."""
        return self._regular(name, os.O_RDWR)

    def rename(self, src: str, dst: str) -> None:
        """Atomically rename within the directory (replaces ``dst``)."""
        os.rename(src, dst, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def unlink(self, name: str) -> bool:
        """Remove ``name``; ``False`` if it was already gone."""
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            return False
        return True

    def stat(self, name: str) -> os.stat_result | None:
        """``lstat`` of ``name``, or ``None`` if it is gone."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def sync(self) -> None:
        """Make renames and creations in the directory durable."""
        with contextlib.suppress(OSError):
            os.fsync(self.fd)

    def write_file(self, name: str, data: bytes, *, owner: str, durable: bool) -> None:
        """Write ``name`` whole through a temporary file and a rename."""
        tmp = f"{name}.{owner}.tmp"
        fd = self.create(tmp)
        try:
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            self.unlink(tmp)
            raise
        os.close(fd)
        self.rename(tmp, name)

    # ------------------------------------------------------------------ listing
    def listing(self) -> Listing:
        """This store's files now; anything else in the directory (or any symlink) is ignored."""
        segments: dict[str, list[tuple[SegmentName, str]]] = {
            "interactions": [],
            "feedback": [],
        }
        others: list[tuple[SegmentName, str]] = []
        writers: set[str] = set()
        unborn: list[str] = []
        with self._list_lock, os.scandir(self.fd) as it:
            for entry in it:
                name = entry.name
                if name.startswith(".writer-") and name.endswith(".lock"):
                    writers.add(name[8:-5])
                    continue
                if name.startswith(".writer-") and name.endswith(".lock.new"):
                    unborn.append(name)
                    continue
                parsed = parse_name(name)
                if parsed is None:
                    continue
                if not entry.is_file(follow_symlinks=False):
                    if not entry.is_symlink():  # symlinks are refused quietly, by design
                        self.strange(name)
                    continue
                if parsed.temp_owner is None and parsed.suffix in (
                    ".active.jsonl",
                    ".jsonl",
                    ".jsonl.gz",
                ):
                    segments[parsed.kind].append((parsed, name))
                else:
                    others.append((parsed, name))
        for kind, segs in segments.items():
            # a plain segment next to its compressed twin is a compression that crashed
            # between the rename and the unlink: the twin holds the same lines
            gz = {p.stem for p, _ in segs if p.suffix == ".jsonl.gz"}
            dupes = [s for s in segs if s[0].suffix == ".jsonl" and s[0].stem in gz]
            if dupes:
                segs[:] = [s for s in segs if s not in dupes]
                others.extend(dupes)
            segs.sort(key=lambda s: s[0].order)
            segments[kind] = segs
        return Listing(segments, others, writers, unborn)

    # ------------------------------------------------------------------ locks
    @contextlib.contextmanager
    def maintenance(self, *, wait: bool) -> Iterator[bool]:
        """Hold the directory's maintenance lock (compress, purge, retention, recovery).

        Yields ``False`` without the lock when ``wait`` is false and another holder has it.
        If something other than a regular file sits under the lock's name, the directory
        itself is locked instead (every process meets the same obstacle, so all agree).
        """
        try:
            fd = self.open_append(MAINTENANCE_LOCK)
        except NotRegularFile:
            fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.fd)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def new_writer(self) -> tuple[str, int]:
        """A fresh writer id and the descriptor holding its lock for this process's life.

        The lock file is locked under a private name and renamed into place, so no other
        process ever sees it unlocked while its writer lives.
        """
        while True:
            writer = secrets.token_hex(4)
            tmp = f".writer-{writer}.lock.new"
            try:
                fd = self.create(tmp)
            except FileExistsError:
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            final = f".writer-{writer}.lock"
            if self.stat(final) is not None:
                os.close(fd)
                self.unlink(tmp)
                continue
            self.rename(tmp, final)
            return writer, fd

    def try_lock_writer(self, writer: str) -> int | None:
        """If ``writer``'s process is gone, a descriptor holding its lock; else ``None``.

        A writer with no lock file at all is gone too (``-1`` is returned then).
        """
        try:
            fd = self.open_rw(f".writer-{writer}.lock")
        except NotRegularFile:
            return None  # not ours to judge or remove
        except FileNotFoundError:
            return -1
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def remove_unborn(self, name: str) -> None:
        """Remove a ``.writer-*.lock.new`` left by a process that died while starting."""
        try:
            fd = self.open_rw(name)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        finally:
            os.close(fd)
        self.unlink(name)

    def release_writer(self, writer: str, fd: int, *, remove: bool) -> None:
        """Drop a writer lock, removing its file first when the writer's work is finished."""
        if remove:
            self.unlink(f".writer-{writer}.lock")
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
