"""Output files: a regular file is replaced atomically; FIFOs, devices and /dev/stdout are
written through; a symlink is followed to its target."""

from __future__ import annotations

import codecs
import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

__all__ = ["TEXT_ERRORS", "open_output", "output_is_special", "text_errors"]

TEXT_ERRORS: Final = "rlhf_otel.fffd"
"""Codec error handler writing U+FFFD for what UTF-8 cannot encode (lone surrogates)."""

_registered = False


def _fffd(exc: UnicodeError) -> tuple[str | bytes, int]:
    if isinstance(exc, UnicodeEncodeError):
        if exc.encoding.replace("-", "").replace("_", "").lower() == "utf8":
            # The UTF-8 encoder takes only ASCII text back from a handler, or bytes.
            return "\ufffd".encode() * (exc.end - exc.start), exc.end
        return "?" * (exc.end - exc.start), exc.end
    raise exc


def text_errors() -> str:
    """The name of the U+FFFD error handler, registered on first use (not at import)."""
    global _registered
    if not _registered:
        codecs.register_error(TEXT_ERRORS, _fffd)
        _registered = True
    return TEXT_ERRORS


def output_is_special(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is written through rather than replaced: an existing FIFO, device or
    socket, or anything under ``/dev`` or ``/proc`` (``/dev/stdout`` may resolve to the very
    file a shell redirected into, which a rename would take away from it)."""
    given = os.path.abspath(os.fspath(path))
    real = os.path.realpath(given)
    if given.startswith(("/dev/", "/proc/")) or real.startswith(("/dev/", "/proc/")):
        return True
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_STD_NAMES: Final = {"/dev/stdout": 1, "/dev/stderr": 2}


def _inherited_fd(path: str) -> int | None:
    """The descriptor ``path`` names (``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N``)."""
    path = os.path.abspath(path)
    if path in _STD_NAMES:
        return _STD_NAMES[path]
    for prefix in ("/dev/fd/", "/proc/self/fd/", f"/proc/{os.getpid()}/fd/"):
        if path.startswith(prefix) and path[len(prefix) :].isdigit():
            return int(path[len(prefix) :])
    return None


@contextlib.contextmanager
def open_output(path: str | os.PathLike[str], mode: str, **kwargs: Any) -> Iterator[IO[Any]]:
    """Open ``path`` for writing (``mode`` ``"w"`` or ``"wb"``; ``kwargs`` go to ``open``).

    A regular file (or a new one) is written to a hidden owner-only temporary file next to
    it and renamed over it when the block ends without error, so a failed or interrupted
    write never leaves half a file and never a temporary one. A symlink is followed: its
    target is replaced, the link stays. A FIFO, a device node, a socket or a path under
    ``/dev`` or ``/proc`` (``/dev/stdout``) is opened and written through.

    Raises:
        FileNotFoundError: the directory does not exist.
        IsADirectoryError: ``path`` is a directory.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb'; got {mode!r}")
    if output_is_special(path):
        # Never truncate or rename: /dev/stdout shares the shell's open file (and offset).
        fd = _inherited_fd(os.fspath(path))
        fd = os.dup(fd) if fd is not None else os.open(path, os.O_WRONLY | _CLOEXEC)
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
        return
    target = Path(os.path.realpath(os.fspath(path)))
    if target.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a directory")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {target.parent} does not exist")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
