"""Charts as plain SVG drawn here (no script, no CDN), readable without colour.

Each series differs by line style and pattern as well as colour: the index is a solid line with
round markers over a hatched confidence band; the forecast is a dashed line with square markers
over a dotted interval. Axes are labelled and a legend names every style; pages put a table of
the same numbers under each chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from html import escape

import numpy as np
import pandas as pd

WIDTH, HEIGHT = 760, 340
LEFT, RIGHT, TOP, BOTTOM = 72, 40, 16, 84
MAX_X_LABELS = 12
Scale = Callable[[float], float]

_DEFS = """<defs>
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse"
 patternTransform="rotate(45)">
<line x1="0" y1="0" x2="0" y2="6" stroke="#4a6fa5" stroke-width="1.5"/></pattern>
<pattern id="dots" width="6" height="6" patternUnits="userSpaceOnUse">
<circle cx="3" cy="3" r="1.2" fill="#b5651d"/></pattern>
</defs>"""


def index_chart(
    table: pd.DataFrame, forecast: pd.DataFrame | None, *, title: str, coverage: float = 0.8
) -> str:
    """An index (index, lower, upper by period) and its forecast as an SVG element."""
    periods = [str(p) for p in table.index]
    future = [] if forecast is None else [str(p) for p in forecast.index]
    labels = periods + future
    values = [table["index"], table["lower"], table["upper"]]
    if forecast is not None:
        values += [forecast["forecast"], forecast["lower"], forecast["upper"]]
    positive = np.concatenate([np.asarray(v, dtype=float) for v in values])
    positive = positive[np.isfinite(positive) & (positive > 0)]
    low, high = math.log10(positive.min()), math.log10(positive.max())
    if high - low < 0.3:
        low, high = low - 0.15, high + 0.15
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: float) -> float:
        return LEFT + (plot_w * i / max(len(labels) - 1, 1))

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (math.log10(value) - low) / (high - low))

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(_description(table, forecast))}</desc>',
        _DEFS,
    ]
    parts += _axes(labels, low, high, x, y, plot_w, plot_h)
    n = len(periods)
    parts.append(_band(range(n), table["lower"], table["upper"], x, y, "url(#hatch)", "band"))
    parts.append(_line(range(n), table["index"], x, y, dash="", marker="circle", name="index"))
    if forecast is not None:
        steps = range(n - 1, n + len(future))
        last = float(table["index"].iloc[-1])
        lower = [last, *forecast["lower"]]
        upper = [last, *forecast["upper"]]
        parts.append(_band(steps, lower, upper, x, y, "url(#dots)", "forecast-band"))
        parts.append(
            _line(
                steps,
                [last, *forecast["forecast"]],
                x,
                y,
                dash="7 5",
                marker="square",
                name="forecast",
            )
        )
    parts += _legend(forecast is not None, coverage)
    parts.append("</svg>")
    return "\n".join(parts)


def _axes(
    labels: list[str], low: float, high: float, x: Scale, y: Scale, plot_w: int, plot_h: int
) -> list[str]:
    out = [
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
        'stroke="#333"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>',
    ]
    for tick in _log_ticks(low, high):
        ty = y(tick)
        out.append(
            f'<line x1="{LEFT - 4}" y1="{ty:.1f}" x2="{LEFT + plot_w}" y2="{ty:.1f}" '
            'stroke="#ccc" stroke-width="0.5"/>'
        )
        out.append(
            f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="11">'
            f"{_number(tick)}</text>"
        )
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    for i, label in enumerate(labels):
        last = len(labels) - 1
        if i != last and (i % every or last - i < every):
            continue  # every `every`-th period, and the last, with room between them
        tx = x(i)
        out.append(
            f'<line x1="{tx:.1f}" y1="{TOP + plot_h}" x2="{tx:.1f}" y2="{TOP + plot_h + 4}" '
            'stroke="#333"/>'
        )
        out.append(
            f'<text x="{tx:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" font-size="11">'
            f"{escape(label)}</text>"
        )
    out.append(
        f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h + 32}" text-anchor="middle" '
        'font-size="12">Period</text>'
    )
    out.append(
        f'<text x="14" y="{TOP + plot_h / 2}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {TOP + plot_h / 2})">'
        "Index (first period = 100, log scale)</text>"
    )
    return out


def _log_ticks(low: float, high: float) -> list[float]:
    ticks = []
    for exponent in range(math.floor(low), math.ceil(high) + 1):
        for mantissa in (1, 2, 5) if high - low < 3 else (1,):
            value = mantissa * 10.0**exponent
            if low <= math.log10(value) <= high:
                ticks.append(value)
    return ticks or [10**low]


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:.2g}"


def _band(
    steps: Sequence[int],
    lower: Iterable[float],
    upper: Iterable[float],
    x: Scale,
    y: Scale,
    fill: str,
    name: str,
) -> str:
    points = [(x(i), y(float(v))) for i, v in zip(steps, lower, strict=True)]
    points += [(x(i), y(float(v))) for i, v in reversed(list(zip(steps, upper, strict=True)))]
    text = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    return (
        f'<polygon class="{name}" points="{text}" fill="{fill}" fill-opacity="0.6" '
        'stroke="#555" stroke-width="0.6" stroke-dasharray="2 2"/>'
    )


def _line(
    steps: Iterable[int],
    values: Iterable[float],
    x: Scale,
    y: Scale,
    *,
    dash: str,
    marker: str,
    name: str,
) -> str:
    points = [(x(i), y(float(v))) for i, v in zip(steps, values, strict=True)]
    colour = "#1d3557" if name == "index" else "#8a4b08"
    text = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    out = [
        f'<polyline class="{name}" points="{text}" fill="none" stroke="{colour}" '
        f'stroke-width="2"{dash_attr}/>'
    ]
    for px, py in points if len(points) <= 80 else []:
        if marker == "circle":
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.5" fill="{colour}"/>')
        else:
            out.append(
                f'<rect x="{px - 2.5:.1f}" y="{py - 2.5:.1f}" width="5" height="5" '
                f'fill="{colour}"/>'
            )
    return "\n".join(out)


def _legend(with_forecast: bool, coverage: float) -> list[str]:
    y0 = HEIGHT - 28
    items = [
        ("line", "", "#1d3557", "Index (solid line, round markers)"),
        ("box", "url(#hatch)", "", "95% confidence band (hatched)"),
    ]
    if with_forecast:
        items += [
            ("line", "7 5", "#8a4b08", "Forecast (dashed line, square markers)"),
            ("box", "url(#dots)", "", f"{coverage:.0%} forecast interval (dotted)"),
        ]
    out = ['<g class="legend" font-size="11">']
    for i, (kind, style, colour, label) in enumerate(items):
        lx = LEFT + (i % 2) * 330
        ly = y0 + (i // 2) * 16
        if kind == "line":
            dash = f' stroke-dasharray="{style}"' if style else ""
            out.append(
                f'<line x1="{lx}" y1="{ly}" x2="{lx + 28}" y2="{ly}" stroke="{colour}" '
                f'stroke-width="2"{dash}/>'
            )
        else:
            out.append(
                f'<rect x="{lx}" y="{ly - 6}" width="28" height="12" fill="{style}" '
                'stroke="#555" stroke-width="0.6"/>'
            )
        out.append(f'<text x="{lx + 34}" y="{ly + 4}">{escape(label)}</text>')
    out.append("</g>")
    return out


def _description(table: pd.DataFrame, forecast: pd.DataFrame | None) -> str:
    first, last = table.index[0], table.index[-1]
    text = (
        f"Index from {first} ({table['index'].iloc[0]:,.0f}) to {last} "
        f"({table['index'].iloc[-1]:,.0f}), {len(table)} periods."
    )
    if forecast is not None and len(forecast):
        text += (
            f" Forecast for {forecast.index[-1]}: {forecast['forecast'].iloc[-1]:,.0f} "
            f"({forecast['lower'].iloc[-1]:,.0f} to {forecast['upper'].iloc[-1]:,.0f})."
        )
    return text + " The table below the chart gives every value."
