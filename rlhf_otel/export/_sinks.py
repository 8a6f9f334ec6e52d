"""Where an export goes: a path (a regular file replaced atomically, a FIFO, device or
``/dev/stdout`` written through), a text or binary stream, or memory. Text that UTF-8
cannot encode (a lone surrogate already in a store) is written as U+FFFD."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Union

from rlhf_otel._errors import ValidationError
from rlhf_otel._outfile import open_output, text_errors
from rlhf_otel._redact import replace_surrogates

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
def text_sink(out: OutTarget | None, holder: list[str | bytes]) -> Iterator[IO[str]]:
    """A text stream (``\\n`` newlines untranslated) for ``out``; ``None`` collects a str."""
    if out is None:
        buf = io.StringIO(newline="")
        yield buf
        holder.append(replace_surrogates(buf.getvalue()))
    elif _is_path(out):
        path = Path(os.fspath(out))  # type: ignore[arg-type]
        with open_output(path, "w", encoding="utf-8", errors=text_errors(), newline="") as fh:
            yield fh
    elif isinstance(out, io.TextIOBase):
        yield out  # type: ignore[misc]
    elif hasattr(out, "write"):
        wrapper = io.TextIOWrapper(
            out,  # type: ignore[type-var]
            encoding="utf-8",
            errors=text_errors(),
            newline="",
            write_through=True,
        )
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
        with open_output(path, "wb") as fh:
            yield fh
    elif isinstance(out, io.TextIOBase):
        raise ValidationError("Parquet is binary: pass a path or a binary stream, not a text one")
    elif hasattr(out, "write"):
        yield out  # type: ignore[misc]
    else:
        raise ValidationError(
            f"out must be a path, a binary stream, or None; got {type(out).__name__}"
        )
