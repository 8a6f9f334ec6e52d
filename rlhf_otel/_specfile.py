"""Reading a small spec file (queue files, judge specs) with caps on size, nesting and aliases.

A spec file is JSON, or YAML when its name ends in ``.yaml``/``.yml``. Whatever the file
holds, reading it costs at most its size cap in memory and a bounded number of nodes: an
alias bomb, a nesting thousands deep or a huge file ends in one :class:`ValidationError`
line naming the limit, never in a ``RecursionError`` or an error message the size of the
expansion.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from rlhf_otel._errors import ValidationError

__all__ = ["SpecLimits", "load_spec_file"]

_SPECIAL: Final = re.compile(r'["\\\[\]{}]')
_MESSAGE: Final = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class SpecLimits:
    """What one spec file may cost.

    Args:
        max_bytes: largest file read (checked before parsing). Default 256 KiB: the pure
            Python YAML parser (needed to count aliases) reads about 100 KiB a second on a
            busy machine.
        max_depth: deepest nesting of lists and mappings (YAML aliases count where they
            are used). Default 64.
        max_nodes: most values after YAML aliases are expanded (each scalar, list and
            mapping is one). Default 100,000.
    """

    max_bytes: int = 256 * 1024
    max_depth: int = 64
    max_nodes: int = 100_000


def load_spec_file(
    path: str | os.PathLike[str], *, what: str = "spec file", limits: SpecLimits | None = None
) -> object:
    """The parsed content of a JSON or YAML spec file, within ``limits``.

    Args:
        path: the file; ``.yaml``/``.yml`` is YAML (needs PyYAML), anything else JSON.
        what: how messages name the file, e.g. ``"queue file"``.
        limits: the caps (default :class:`SpecLimits`).

    Raises:
        ValidationError: one line: the file is too large, too deep, expands to too many
            values, is not UTF-8, or is not valid JSON/YAML.
        OSError: the file cannot be opened or read.
    """
    lim = limits or SpecLimits()
    p = Path(path)
    where = f"{what} {p}"
    text = _read(p, where, lim.max_bytes)
    if p.suffix.lower() in (".yaml", ".yml"):
        return _yaml(text, where, lim)
    _json_depth(text, where, lim.max_depth)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError(_line(f"{where} is not valid JSON: {exc}")) from None


def _line(message: str) -> str:
    """One line of bounded length (parser messages quote the input)."""
    text = " ".join(message.split())
    return text if len(text) <= _MESSAGE else text[: _MESSAGE - 1] + "…"


def _read(p: Path, where: str, max_bytes: int) -> str:
    # O_NONBLOCK: a FIFO under the name must not hang the reader; it is refused below
    fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValidationError(f"{where} is not a regular file")
        if st.st_size > max_bytes:
            raise ValidationError(
                f"{where} is {st.st_size:,} bytes, more than the limit of {max_bytes:,} bytes"
            )
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ValidationError(f"{where} is more than the limit of {max_bytes:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{where} is not UTF-8 text (byte {exc.start})") from None


def _json_depth(text: str, where: str, max_depth: int) -> None:
    """Refuse nesting deeper than ``max_depth`` without parsing: one linear pass over the
    quotes, backslashes and brackets (a regular expression for strings can backtrack)."""
    depth = 0
    in_string = False
    escaped_at = -1
    for m in _SPECIAL.finditer(text):
        i = m.start()
        if i == escaped_at:
            continue
        c = text[i]
        if in_string:
            if c == "\\":
                escaped_at = i + 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            if depth > max_depth:
                raise ValidationError(_too_deep(where, max_depth))
        elif c in "]}":
            depth -= 1


def _too_deep(where: str, max_depth: int) -> str:
    return f"{where} nests lists or mappings more than the limit of {max_depth} levels deep"


def _yaml(text: str, where: str, lim: SpecLimits) -> object:
    try:
        yaml: Any = importlib.import_module("yaml")
    except ImportError:
        raise ValidationError(
            f"{where}: YAML needs PyYAML (pip install pyyaml), or write it as JSON"
        ) from None
    loader = _capped_loader(yaml)(text, where, lim)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ValidationError(_line(f"{where} is not valid YAML: {exc}")) from None
    except RecursionError:  # defence in depth: the depth cap is far below the interpreter's
        raise ValidationError(_too_deep(where, lim.max_depth)) from None
    finally:
        loader.dispose()


def _capped_loader(yaml: Any) -> type:
    """A ``SafeLoader`` that counts nodes with aliases expanded and tracks depth."""
    alias_event = yaml.events.AliasEvent

    class CappedLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no type information
        def __init__(self, stream: str, where: str, lim: SpecLimits) -> None:
            super().__init__(stream)
            self._where = where
            self._lim = lim
            self._nodes = 0
            self._depth = 0
            self._deepest = 0
            # anchor -> (values under it, levels under it); absent while it is being built
            self._anchored: dict[str, tuple[int, int]] = {}

        def _count(self, nodes: int, reach: int) -> None:
            self._nodes += nodes
            if self._nodes > self._lim.max_nodes:
                raise ValidationError(
                    f"{self._where} expands to more than the limit of "
                    f"{self._lim.max_nodes:,} values (YAML aliases count each time used)"
                )
            if reach > self._lim.max_depth:
                raise ValidationError(_too_deep(self._where, self._lim.max_depth))
            self._deepest = max(self._deepest, reach)

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            anchor = event.anchor
            if isinstance(event, alias_event):
                if anchor in self.anchors:
                    known = self._anchored.get(anchor)
                    if known is None:
                        raise ValidationError(
                            f"{self._where}: the YAML alias *{anchor} is used inside its own "
                            "anchor (a recursive structure is not allowed)"
                        )
                    self._count(known[0], self._depth + 1 + known[1])
                return super().compose_node(parent, index)
            if anchor is not None:
                self._anchored.pop(anchor, None)
            self._depth += 1
            before, outer = self._nodes, self._deepest
            self._deepest = 0
            self._count(1, self._depth)
            node = super().compose_node(parent, index)
            if anchor is not None:
                self._anchored[anchor] = (self._nodes - before, self._deepest - self._depth)
            self._deepest = max(outer, self._deepest)
            self._depth -= 1
            return node

    return CappedLoader
