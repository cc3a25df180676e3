"""The figures as tables, each built once and shown in the terminal (Rich) or in report.html."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from singlewindow.resources.procs import LOAD_TOOL

MB = 1_000_000
RANK = ("broker", "gateway", "customs", "inspection", "forex", "tax", LOAD_TOOL)


@dataclass
class Grid:
    """A titled table of text cells; the first column names the row, the others are figures."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    totals: list[tuple[str, ...]] = field(default_factory=list)  # last rows, in bold

    def rich(self) -> Table:
        """For the terminal."""
        table = Table(title=self.title)
        for i, col in enumerate(self.columns):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in self.rows:
            table.add_row(*row)
        for row in self.totals:
            table.add_row(*row, style="bold")
        return table

    def html(self) -> str:
        """For report.html."""
        rows = [*self.rows, *self.totals]
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        heads = "".join(f"<th>{html.escape(h)}</th>" for h in self.columns)
        return f"<h2>{html.escape(self.title)}</h2><table><tr>{heads}</tr>{cells}</table>"


def order(name: str) -> tuple[int, str]:
    """Processes in the flow's order (broker, gateway, agencies, load tool), replicas after."""
    base = name.split("-")[0]
    return (RANK.index(base) if base in RANK else len(RANK), name)


def _mb(n: float) -> str:
    return f"{n / MB:.1f}"


def process_grid(cpu_ms: dict[str, float], footprint: dict[str, Any]) -> Grid:
    """One row a process: CPU a declaration, memory before and after, growth a declaration."""
    grid = Grid(
        "per process (CPU and memory)",
        ("process", "CPU ms/declaration", "RSS before MB", "RSS after MB", "RSS B/declaration"),
    )
    memory = footprint["memory"]
    for name in sorted(set(cpu_ms) | set(memory), key=order):
        mem = memory.get(name)
        grid.rows.append(
            (
                name,
                f"{cpu_ms[name]:.2f}" if name in cpu_ms else "",
                _mb(mem["before"]) if mem else "",
                _mb(mem["after"]) if mem else "",
                f"{mem['per_declaration']:,.0f}" if mem else "",
            )
        )
    system = sum(v for k, v in cpu_ms.items() if k != LOAD_TOOL)
    grid.totals.append(("system (all but the load tool)", f"{system:.2f}", "", "", ""))
    return grid


def disk_grid(footprint: dict[str, Any]) -> Grid:
    """One row a service database: before, after, growth a declaration."""
    grid = Grid(
        "disk per database (.db + -wal + -shm)",
        ("database", "before MB", "after MB", "B/declaration"),
    )
    for name, d in footprint["disk"].items():
        grid.rows.append(
            (
                name,
                f"{d['before'] / MB:.2f}",
                f"{d['after'] / MB:.2f}",
                f"{d['per_declaration']:,.0f}",
            )
        )
    return grid


def bus_grid(bus: dict[str, Any], what: str = "") -> Grid:
    """Records and bytes a declaration on each topic, and on all."""
    part = ", part of the run" if bus.get("partial") else ""
    grid = Grid(
        f"on the bus, a declaration ({what}{bus['declarations']:,} declarations{part})",
        ("topic", "records", "bytes"),
    )
    for topic, t in bus["topics"].items():
        grid.rows.append(
            (topic, f"{t['records_per_declaration']:.2f}", f"{t['bytes_per_declaration']:,}")
        )
    grid.totals.append(
        ("all topics", f"{bus['records_per_declaration']:.2f}", f"{bus['bytes_per_declaration']:,}")
    )
    return grid


def trend_grid(trends: dict[str, dict[str, Any]]) -> Grid:
    """Each process's memory and each database's size after warm-up: slope, band, verdict."""
    grid = Grid(
        "soak: slope after warm-up (least squares)",
        ("what", "first MB", "last MB", "slope MB/min", "noise band ± MB/min", "verdict"),
    )
    for name, t in trends.items():
        grid.rows.append(
            (
                name,
                f"{t['first'] / MB:.2f}",
                f"{t['last'] / MB:.2f}",
                f"{t['slope_per_min'] / MB:+.4f}",
                f"{t['band_per_min'] / MB:.4f}",
                t["verdict"],
            )
        )
    return grid


def grids(resources: dict[str, Any]) -> list[Grid]:
    """The load report's tables of what the run cost the machine."""
    out = []
    if "footprint" in resources:
        out.append(
            process_grid(resources.get("cpu_ms_per_declaration", {}), resources["footprint"])
        )
        out.append(disk_grid(resources["footprint"]))
    if "bus" in resources:
        out.append(bus_grid(resources["bus"]))
    if resources.get("trends"):
        out.append(trend_grid(resources["trends"]))
    return out


def print_resources(console: Console, resources: dict[str, Any] | None) -> None:
    """The tables in the terminal."""
    if not resources:
        return
    if "footprint" not in resources:
        console.print("memory and disk: not measured (the system does not run on this machine)")
    for grid in grids(resources):
        console.print(grid.rich())


def html_fragment(resources: dict[str, Any]) -> str:
    """The tables for report.html."""
    return "".join(grid.html() for grid in grids(resources))
