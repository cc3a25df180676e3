"""The end of a run: a Rich table, a JSON file and an HTML page with SVG charts (no assets)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from singlewindow.resources.tables import html_fragment, print_resources


def latency_table(report: dict[str, Any]) -> Table:
    """Accept, completion and stage latencies as one table."""
    table = Table(title="latency (ms)")
    for col in ("what", "count", "p50", "p90", "p99", "p99.9", "max"):
        table.add_column(col, justify="right" if col != "what" else "left")
    rows = [("accept (POST → 202)", report["accept_ms"]), ("completion", report["completion_ms"])]
    rows += [(f"stage: {k}", v) for k, v in report["stage_ms"].items()]
    rows += [(f"completion: {k}", v) for k, v in report["completion_by_kind_ms"].items()]
    for name, s in rows:
        table.add_row(
            name, str(s["count"]), *(f"{s[k]:.1f}" for k in ("p50", "p90", "p99", "p99.9", "max"))
        )
    return table


def print_summary(console: Console, report: dict[str, Any]) -> None:
    """The table, the rates, outcomes and errors."""
    console.print(latency_table(report))
    console.print(
        f"sent {report['sent']}  completed {report['completion_ms']['count']}  "
        f"in {report['duration_s']:.1f}s: offered {report['offered_rate']:.0f}/s, "
        f"completed {report['completion_rate']:.0f}/s"
    )
    console.print(
        "outcomes: " + (", ".join(f"{k} {v}" for k, v in report["outcomes"].items()) or "none")
    )
    console.print(
        "errors: " + (", ".join(f"{k} {v}" for k, v in report["errors"].items()) or "none")
    )
    print_resources(console, report.get("resources"))


def _polyline(points: list[tuple[float, float]], x_max: float, y_max: float, w: int, h: int) -> str:
    if not points:
        return ""
    coords = " ".join(
        f"{40 + x / max(x_max, 1) * (w - 50):.1f},{h - 25 - y / max(y_max, 1e-9) * (h - 40):.1f}"
        for x, y in points
    )
    return coords


def svg_chart(title: str, series: dict[str, list[tuple[float, float]]], unit: str) -> str:
    """A line chart as inline SVG."""
    w, h = 900, 300
    colours = ["#0057b8", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    x_max = max((x for pts in series.values() for x, _ in pts), default=1)
    y_max = max((y for pts in series.values() for _, y in pts), default=1) * 1.1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img">',
        f"<title>{html.escape(title)}</title>",
        f'<text x="40" y="16" font-size="14" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="40" y1="{h - 25}" x2="{w - 10}" y2="{h - 25}" stroke="#333"/>',
        f'<line x1="40" y1="25" x2="40" y2="{h - 25}" stroke="#333"/>',
        f'<text x="2" y="30" font-size="11">{y_max:.0f}</text>',
        f'<text x="2" y="{h - 28}" font-size="11">0 {html.escape(unit)}</text>',
        f'<text x="{w - 60}" y="{h - 8}" font-size="11">{x_max:.0f} s</text>',
    ]
    for i, (name, pts) in enumerate(series.items()):
        colour = colours[i % len(colours)]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
            f'points="{_polyline(pts, x_max, y_max, w, h)}"/>'
        )
        parts.append(
            f'<text x="{60 + i * 150}" y="{h - 8}" font-size="12" fill="{colour}">'
            f"{html.escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def write_reports(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write report.json and report.html; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    series = report["series"]
    throughput = svg_chart(
        "throughput",
        {
            "sent/s": [(s["t"], s["sent"]) for s in series],
            "completed/s": [(s["t"], s["completed"]) for s in series],
            "errors/s": [(s["t"], s["errors"]) for s in series],
        },
        "/s",
    )
    latency = svg_chart(
        "completion latency",
        {
            "p50": [(s["t"], s["p50_ms"]) for s in series if s["p50_ms"] is not None],
            "p99": [(s["t"], s["p99_ms"]) for s in series if s["p99_ms"] is not None],
        },
        "ms",
    )
    in_flight = svg_chart(
        "in flight", {"declarations": [(p["t"], p["n"]) for p in report["in_flight"]]}, ""
    )
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{s[k]}</td>" for k in ("count", "p50", "p90", "p99", "p99.9", "max"))
        + "</tr>"
        for name, s in [
            ("accept", report["accept_ms"]),
            ("completion", report["completion_ms"]),
            *((f"stage {k}", v) for k, v in report["stage_ms"].items()),
        ]
    )
    page = f"""<!doctype html><html lang="en"><meta charset="utf-8">
<title>Single window load report</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:4px 10px;text-align:right}}
td:first-child{{text-align:left}}table{{border-collapse:collapse}}tr:nth-child(even){{background:#eee}}</style>
<h1>Load report</h1>
<p>{html.escape(report["model"])} model, {html.escape(str(report.get("profile", "")))},
mix {html.escape(report["mix"])}; sent {report["sent"]}, completed {report["completion_ms"]["count"]},
offered {report["offered_rate"]:.0f}/s, completed {report["completion_rate"]:.0f}/s.</p>
<table><tr><th>latency (ms)</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
{rows}</table>
<p>outcomes: {html.escape(json.dumps(report["outcomes"]))}; errors: {html.escape(json.dumps(report["errors"]))}</p>
{throughput}<br>{latency}<br>{in_flight}
{html_fragment(report.get("resources") or {})}
</html>"""
    html_path = out_dir / "report.html"
    html_path.write_text(page, encoding="utf-8")
    return json_path, html_path
