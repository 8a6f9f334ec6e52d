"""Inline SVG charts for the HTML report: small, dependency-free, escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

__all__ = ["Bar", "Point", "bar_chart", "hbar_chart", "interval_chart", "line_chart", "no_data"]

W: Final = 640
H: Final = 280
PAD_L: Final = 56
PAD_R: Final = 16
PAD_T: Final = 16
PAD_B: Final = 48
PALETTE: Final = ("#3b6fd8", "#e0803a", "#3aa676", "#c94c4c", "#8a63c7", "#7a7a7a")


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar (or stacked segments) with a label and a hover text."""

    label: str
    values: tuple[float, ...]
    tip: str


@dataclass(frozen=True, slots=True)
class Point:
    """One point of a line or scatter chart."""

    x: float
    y: float
    tip: str
    size: float = 4.0


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v - round(v)) < 1e-9:
        return f"{round(v):,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.0f}"
    return f"{v:.2g}" if abs(v) < 1 else f"{v:.1f}"


def _nice_step(span: float, most: int = 5) -> float:
    """The smallest step of 1, 2 or 5 times a power of ten giving at most ``most`` steps."""
    if span <= 0:
        return 1.0
    exp = 10.0 ** math.floor(math.log10(span / most))
    for m in (1.0, 2.0, 5.0, 10.0):
        if span / (m * exp) <= most:
            return m * exp
    return 10 * exp


def _nice_max(v: float) -> float:
    """``v`` rounded up to a whole number of nice steps (so every tick is round)."""
    if v <= 0:
        return 1.0
    step = _nice_step(v)
    return math.ceil(v / step - 1e-9) * step


def _svg(name: str, body: str, title: str, height: int = H) -> str:
    return (
        f'<svg class="chart-svg" data-chart="{escape(name)}" viewBox="0 0 {W} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _y_axis(top: float, height: int = H, fmt_pct: bool = False) -> str:
    out = []
    step = 0.25 if fmt_pct else _nice_step(top)
    n = round(top / step)
    for i in range(n + 1):
        v = step * i
        y = height - PAD_B - (height - PAD_T - PAD_B) * i / n
        label = f"{v * 100:.0f}%" if fmt_pct else _fmt(v)
        out.append(
            f'<line class="grid" x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
    return "".join(out)


def no_data(name: str, title: str) -> str:
    """A placeholder chart saying there is nothing to show."""
    body = (
        f'<text class="empty" x="{W / 2}" y="{H / 2}" text-anchor="middle">'
        "No data in this range</text>"
    )
    return _svg(name, body, title)


def bar_chart(
    name: str, title: str, bars: Sequence[Bar], series: Sequence[str], pct: bool = False
) -> str:
    """Vertical (stacked) bars, one per label."""
    if not bars:
        return no_data(name, title)
    top = 1.0 if pct else _nice_max(max(sum(b.values) for b in bars))
    plot_w = W - PAD_L - PAD_R
    plot_h = H - PAD_T - PAD_B
    slot = plot_w / len(bars)
    bw = max(1.0, slot * 0.75)
    parts = [_y_axis(top, fmt_pct=pct)]
    every = max(1, math.ceil(len(bars) / 12))
    for i, b in enumerate(bars):
        x = PAD_L + i * slot + (slot - bw) / 2
        base = float(H - PAD_B)
        for s, v in enumerate(b.values):
            h = plot_h * (v / top) if top else 0.0
            base -= h
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{base:.1f}" width="{bw:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}" '
                f'data-tip="{escape(b.tip)}"/>'
            )
        if i % every == 0:
            parts.append(
                f'<text class="tick" x="{x + bw / 2:.1f}" y="{H - PAD_B + 16}" '
                f'text-anchor="middle">{escape(b.label)}</text>'
            )
    parts.append(_legend(series, H - 12))
    return _svg(name, "".join(parts), title)


def hbar_chart(
    name: str, title: str, bars: Sequence[Bar], series: Sequence[str], top: float | None = None
) -> str:
    """Horizontal (stacked) bars, one row per label; ``top`` fixes the scale."""
    if not bars:
        return no_data(name, title)
    row = 28
    label_w = 150
    height = PAD_T + row * len(bars) + 40
    top = top or _nice_max(max(sum(b.values) for b in bars))
    plot_w = W - label_w - PAD_R
    parts = []
    for i, b in enumerate(bars):
        y = PAD_T + i * row
        x = float(label_w)
        parts.append(
            f'<text class="tick" x="{label_w - 8}" y="{y + row / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(b.label[:24])}</text>'
        )
        for s, v in enumerate(b.values):
            w = plot_w * (v / top) if top else 0.0
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" '
                f'fill="{PALETTE[s % len(PALETTE)]}" data-tip="{escape(b.tip)}"/>'
            )
            x += w
    parts.append(_legend(series, height - 10))
    return _svg(name, "".join(parts), title, height)


def line_chart(
    name: str, title: str, points: Sequence[Point], x_label: str, pct: bool = True
) -> str:
    """Points joined by a line; x is numeric (e.g. latency), y 0..1 when ``pct``."""
    if not points:
        return no_data(name, title)
    xs = [p.x for p in points]
    lo, hi = min(xs), max(xs)
    span = (hi - lo) or 1.0
    top = 1.0 if pct else _nice_max(max(p.y for p in points))
    plot_w = W - PAD_L - PAD_R
    plot_h = H - PAD_T - PAD_B

    def sx(x: float) -> float:
        return PAD_L + plot_w * ((x - lo) / span if hi > lo else 0.5)

    def sy(y: float) -> float:
        return H - PAD_B - plot_h * (y / top)

    path = " ".join(
        f"{'M' if i == 0 else 'L'}{sx(p.x):.1f},{sy(p.y):.1f}" for i, p in enumerate(points)
    )
    parts = [_y_axis(top, fmt_pct=pct), f'<path class="line" d="{path}" fill="none"/>']
    for p in points:
        parts.append(
            f'<circle class="point" cx="{sx(p.x):.1f}" cy="{sy(p.y):.1f}" r="{p.size:.1f}" '
            f'data-tip="{escape(p.tip)}"/>'
        )
    for v in (lo, (lo + hi) / 2, hi):
        parts.append(
            f'<text class="tick" x="{sx(v):.1f}" y="{H - PAD_B + 16}" text-anchor="middle">'
            f"{escape(_fmt(v))}</text>"
        )
    parts.append(
        f'<text class="axis" x="{PAD_L + plot_w / 2}" y="{H - 10}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    return _svg(name, "".join(parts), title)


def interval_chart(
    name: str, title: str, rows: Sequence[tuple[str, float, float, float, str]]
) -> str:
    """One row per item: a dot at the estimate and a whisker for its interval."""
    if not rows:
        return no_data(name, title)
    row = 30
    label_w = 150
    height = PAD_T + row * len(rows) + 30
    lo = min(r[2] for r in rows)
    hi = max(r[3] for r in rows)
    span = (hi - lo) or 1.0
    plot_w = W - label_w - PAD_R - 10

    def sx(v: float) -> float:
        return label_w + 5 + plot_w * (v - lo) / span

    parts = []
    for i, (label, est, low, high, tip) in enumerate(rows):
        y = PAD_T + i * row + row / 2
        parts.append(
            f'<text class="tick" x="{label_w - 8}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(label[:24])}</text>"
            f'<line class="whisker" x1="{sx(low):.1f}" x2="{sx(high):.1f}" y1="{y:.1f}" '
            f'y2="{y:.1f}"/>'
            f'<circle class="point" cx="{sx(est):.1f}" cy="{y:.1f}" r="5" '
            f'data-tip="{escape(tip)}"/>'
        )
    step = _nice_step(span, 4)
    v = math.ceil(lo / step) * step
    while v <= hi + 1e-9:
        parts.append(
            f'<text class="tick" x="{sx(v):.1f}" y="{height - 8}" text-anchor="middle">'
            f"{escape(_fmt(v))}</text>"
        )
        v += step
    return _svg(name, "".join(parts), title, height)


def _legend(series: Sequence[str], y: float) -> str:
    if len(series) < 2:
        return ""
    parts = []
    x = PAD_L
    for i, s in enumerate(series):
        parts.append(
            f'<rect x="{x}" y="{y - 9}" width="10" height="10" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text class="legend" x="{x + 14}" y="{y}">{escape(s)}</text>'
        )
        x += 24 + 8 * len(s)
    return "".join(parts)
