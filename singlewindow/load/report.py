"""The end of a run: a Rich table, a JSON file and an HTML page with SVG charts (no assets)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from singlewindow.load.charts import report_charts


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


def write_reports(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write report.json and report.html; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
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
{report_charts(report)}
</html>"""
    html_path = out_dir / "report.html"
    html_path.write_text(page, encoding="utf-8")
    return json_path, html_path
