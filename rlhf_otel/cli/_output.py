"""What the CLI writes: aligned tables, progress on a terminal, and where output goes."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence

from rlhf_otel._outfile import text_errors

__all__ = ["Progress", "prepare_streams", "table"]


class Progress:
    """``label: N records read`` (then ``N rows written``) on stderr, rewritten in place,
    when stderr is a terminal or ``enabled`` says so."""

    def __init__(self, label: str, enabled: bool | None) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.shown = False
        self._width = 0

    def __call__(self, n: int) -> None:
        self._show(f"{n:,} records read")

    def rows(self, n: int) -> None:
        """Rows written so far (training sets call this while pairing)."""
        self._show(f"{n:,} rows written")

    def show(self, text: str) -> None:
        """Any status text on the line."""
        self._show(text)

    def _line(self, text: str) -> str:
        line = f"{self.label}: {text}"
        padded = line.ljust(self._width)  # blank out the rest of a longer previous line
        self._width = len(line)
        return padded

    def _show(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write("\r" + self._line(text))
            sys.stderr.flush()
            self.shown = True

    def done(self, text: str) -> None:
        """The final line (only if progress was enabled)."""
        if self.enabled:
            sys.stderr.write(("\r" if self.shown else "") + self._line(text) + "\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def prepare_streams() -> None:
    """Standard output and error write U+FFFD for text UTF-8 cannot encode (a lone
    surrogate already in a store) instead of failing."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors=text_errors())
