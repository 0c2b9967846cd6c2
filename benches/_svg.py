"""A line chart as SVG text, for the benchmark figures in ``docs/``.

Written by hand so the benches need no plotting library: the figure is a
few hundred bytes of plain SVG that any browser, GitHub and mkdocs show.
"""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

# Distinguishable on white and for the common colour-vision deficiencies (Okabe-Ito).
COLOURS = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7")
WIDTH, HEIGHT = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 64, 180, 40, 52  # margins: axis labels left, legend right


def nice_top(v: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``v``
    (the y axis ends there, so its ticks are round numbers)."""
    if v <= 0:
        return 1.0
    p = 10 ** math.floor(math.log10(v))
    return next(m * p for m in (1, 2, 2.5, 5, 10) if m * p >= v)


def line_chart(title: str, xlabel: str, ylabel: str, xs: Sequence[float],
               series: dict[str, Sequence[float]]) -> str:
    """SVG of one line per entry of ``series`` (a y value for each x in
    ``xs``), with x ticks at the given xs, y from 0 to a round top, and a
    legend on the right."""
    top = nice_top(max((y for ys in series.values() for y in ys), default=1.0))
    x0, x1 = min(xs), max(xs)
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (pw * (x - x0) / (x1 - x0) if x1 > x0 else pw / 2)

    def py(y: float) -> float:
        return TOP + ph * (1 - y / top)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{WIDTH / 2:.0f}" y="22" text-anchor="middle" font-size="14">'
           f'{escape(title)}</text>']
    out += _axes(xs, top, px, py, xlabel, ylabel)
    for k, (name, ys) in enumerate(series.items()):
        c = COLOURS[k % len(COLOURS)]
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>'
                for x, y in zip(xs, ys)]
        ly = TOP + 10 + 20 * k
        out.append(f'<line x1="{WIDTH - RIGHT + 16}" y1="{ly}" x2="{WIDTH - RIGHT + 40}" '
                   f'y2="{ly}" stroke="{c}" stroke-width="2"/>')
        out.append(f'<text x="{WIDTH - RIGHT + 46}" y="{ly + 4}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _axes(xs: Sequence[float], top: float, px, py, xlabel: str, ylabel: str) -> list:
    """Grid lines, ticks and the two axis labels."""
    out = []
    for i in range(6):
        y = top * i / 5
        out.append(f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{WIDTH - RIGHT}" y2="{py(y):.1f}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
    for x in xs:
        out.append(f'<text x="{px(x):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">'
                   f'{x:g}</text>')
    out.append(f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" '
               f'y2="{HEIGHT - BOTTOM}" stroke="black"/>')
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="black"/>')
    out.append(f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2:.0f}" y="{HEIGHT - 12}" '
               f'text-anchor="middle">{escape(xlabel)}</text>')
    cy = TOP + (HEIGHT - TOP - BOTTOM) / 2
    out.append(f'<text x="16" y="{cy:.0f}" text-anchor="middle" '
               f'transform="rotate(-90 16 {cy:.0f})">{escape(ylabel)}</text>')
    return out
