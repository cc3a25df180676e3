"""The load report's charts: inline SVG line charts with axes, ticks, gridlines and units.

No scripts, fonts or URLs: the report page must open where there is no network.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

W, H = 900, 320
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 44, 48  # the plot area's margins: tick labels, titles
COLOURS = ("#0057b8", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


@dataclass(frozen=True)
class Series:
    """One line: its name, its points (x, y), dashed for a target rather than a measurement."""

    name: str
    points: Sequence[tuple[float, float]]
    dashed: bool = False


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Tick values from 0 to at least `top`, at a round step (1, 2, 2.5 or 5 × 10ⁿ)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _label(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:g}"


def svg_chart(
    title: str, series: Sequence[Series], *, x_unit: str, y_unit: str, x_top: float = 0.0
) -> str:
    """A line chart as inline SVG: both axes with ticks, gridlines, units and a legend.

    `x_top`: the least the x axis spans (charts of one run share their time axis)."""
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    x_ticks = nice_ticks(max([x_top, *xs]), 8)
    y_ticks = nice_ticks(max(ys, default=0.0), 5)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def at_x(x: float) -> float:
        return LEFT + x / x_ticks[-1] * plot_w

    def at_y(y: float) -> float:
        return TOP + plot_h - y / y_ticks[-1] * plot_h

    esc = html.escape
    parts = [
        f'<svg class="chart" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img" '
        f'font-family="sans-serif" font-size="12">',
        f"<title>{esc(title)}</title>",
        f'<text x="{LEFT}" y="18" font-size="15" font-weight="bold">{esc(title)}</text>',
    ]
    for y in y_ticks:
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{at_y(y):.1f}" '
            f'y2="{at_y(y):.1f}" stroke="#e3e3e3"/>'
            f'<text class="tick y" x="{LEFT - 6}" y="{at_y(y) + 4:.1f}" '
            f'text-anchor="end">{_label(y)}</text>'
        )
    for x in x_ticks:
        parts.append(
            f'<line class="grid" x1="{at_x(x):.1f}" x2="{at_x(x):.1f}" y1="{TOP}" '
            f'y2="{TOP + plot_h}" stroke="#f0f0f0"/>'
            f'<line class="tickmark" x1="{at_x(x):.1f}" x2="{at_x(x):.1f}" y1="{TOP + plot_h}" '
            f'y2="{TOP + plot_h + 5}" stroke="#333"/>'
            f'<text class="tick x" x="{at_x(x):.1f}" y="{TOP + plot_h + 18}" '
            f'text-anchor="middle">{_label(x)}</text>'
        )
    parts += [
        f'<line class="axis x" x1="{LEFT}" x2="{W - RIGHT}" y1="{TOP + plot_h}" '
        f'y2="{TOP + plot_h}" stroke="#333"/>',
        f'<line class="axis y" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" '
        f'stroke="#333"/>',
        f'<text class="unit x" x="{LEFT + plot_w / 2:.0f}" y="{H - 8}" '
        f'text-anchor="middle">{esc(x_unit)}</text>',
        f'<text class="unit y" x="16" y="{TOP + plot_h / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {TOP + plot_h / 2:.0f})">{esc(y_unit)}</text>',
    ]
    legend_x = W - RIGHT
    for i, line in reversed(list(enumerate(series))):
        colour = COLOURS[i % len(COLOURS)]
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        points = " ".join(f"{at_x(x):.1f},{at_y(y):.1f}" for x, y in line.points)
        parts.append(
            f'<polyline class="series" data-name="{esc(line.name)}" fill="none" '
            f'stroke="{colour}" stroke-width="2"{dash} points="{points}"/>'
        )
        legend_x -= 24 + 7 * len(line.name) + 16
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 20}" y1="30" y2="30" stroke="{colour}" '
            f'stroke-width="2"{dash}/><text class="legend" x="{legend_x + 24}" y="34">'
            f"{esc(line.name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def report_charts(report: dict[str, Any]) -> str:
    """The report's three charts: throughput against the offered rate, latency, in flight."""
    series = report["series"]
    offered = report.get("offered_per_s") or []
    throughput = [
        Series("offered/s", [(t + 0.5, r) for t, r in enumerate(offered)], dashed=True),
        Series("sent/s", [(s["t"] + 0.5, s["sent"]) for s in series]),
        Series("completed/s", [(s["t"] + 0.5, s["completed"]) for s in series]),
        Series("errors/s", [(s["t"] + 0.5, s["errors"]) for s in series]),
    ]
    latency = [
        Series(f"{p}", [(s["t"] + 0.5, s[f"{p}_ms"]) for s in series if s[f"{p}_ms"] is not None])
        for p in ("p50", "p99")
    ]
    in_flight = [Series("in flight", [(p["t"], p["n"]) for p in report["in_flight"]])]
    end = max((s["t"] + 1.0 for s in series), default=0.0)  # one time axis for all three

    def chart(title: str, lines: list[Series], y_unit: str) -> str:
        shown = [line for line in lines if line.points]
        return svg_chart(
            title, shown, x_unit="time since the run started (s)", y_unit=y_unit, x_top=end
        )

    return "<br>".join(
        [
            chart("throughput: offered against completed", throughput, "declarations per second"),
            chart("completion latency, per second of completion", latency, "latency (ms)"),
            chart("declarations in flight", in_flight, "declarations"),
        ]
    )
