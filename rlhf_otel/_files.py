"""Owner-only output files: an ``opener`` for ``open()`` that creates files mode 0600."""

from __future__ import annotations

import os
import stat
from typing import Final

__all__ = ["FILE_MODE", "private_opener"]

FILE_MODE: Final = 0o600


def private_opener(path: str | os.PathLike[str], flags: int) -> int:
    """``open(path, mode, opener=private_opener)``: a new file is created 0600 whatever the
    umask, and an existing regular file of ours is made 0600; special files (a FIFO,
    ``/dev/stdout``) are written through untouched."""
    fd = os.open(path, flags | os.O_CLOEXEC, FILE_MODE)
    try:
        st = os.fstat(fd)
        if (
            stat.S_ISREG(st.st_mode)
            and stat.S_IMODE(st.st_mode) != FILE_MODE
            and st.st_uid == os.geteuid()
        ):
            os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd
