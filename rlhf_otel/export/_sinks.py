"""Where an export goes: a path (written atomically), a text or binary stream, or memory."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Union

from rlhf_otel._errors import ValidationError
from rlhf_otel._files import private_opener

__all__ = ["OutTarget", "binary_sink", "describe", "text_sink"]

OutTarget = Union[str, "os.PathLike[str]", IO[str], IO[bytes]]


def _is_path(out: object) -> bool:
    return isinstance(out, (str, os.PathLike))


def describe(out: object) -> str | None:
    """The path of ``out`` when it is one."""
    if isinstance(out, (str, os.PathLike)):
        return str(os.fspath(out))
    return None


@contextlib.contextmanager
def _atomic_path(path: Path, mode: str, **kwargs: Any) -> Iterator[IO[Any]]:
    # A failed export must not leave a half-written file where a good one is expected.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode, opener=private_opener, **kwargs) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _check_dir(path: Path) -> None:
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write export to {path}: directory {path.parent} does not exist"
        )


@contextlib.contextmanager
def text_sink(out: OutTarget | None, holder: list[str | bytes]) -> Iterator[IO[str]]:
    """A text stream (``\\n`` newlines untranslated) for ``out``; ``None`` collects a str."""
    if out is None:
        buf = io.StringIO(newline="")
        yield buf
        holder.append(buf.getvalue())
    elif _is_path(out):
        path = Path(os.fspath(out))  # type: ignore[arg-type]
        _check_dir(path)
        with _atomic_path(path, "w", encoding="utf-8", newline="") as fh:
            yield fh
    elif isinstance(out, io.TextIOBase):
        yield out  # type: ignore[misc]
    elif hasattr(out, "write"):
        wrapper = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)  # type: ignore[type-var]
        try:
            yield wrapper
            wrapper.flush()
        finally:
            wrapper.detach()
    else:
        raise ValidationError(
            f"out must be a path, a text or binary stream, or None; got {type(out).__name__}"
        )


@contextlib.contextmanager
def binary_sink(out: OutTarget | None, holder: list[str | bytes]) -> Iterator[IO[bytes]]:
    """A binary stream for ``out``; ``None`` collects bytes. Text streams are refused."""
    if out is None:
        buf = io.BytesIO()
        yield buf
        holder.append(buf.getvalue())
    elif _is_path(out):
        path = Path(os.fspath(out))  # type: ignore[arg-type]
        _check_dir(path)
        with _atomic_path(path, "wb") as fh:
            yield fh
    elif isinstance(out, io.TextIOBase):
        raise ValidationError("Parquet is binary: pass a path or a binary stream, not a text one")
    elif hasattr(out, "write"):
        yield out  # type: ignore[misc]
    else:
        raise ValidationError(
            f"out must be a path, a binary stream, or None; got {type(out).__name__}"
        )
