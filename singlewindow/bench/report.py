"""The bench's tables: throughputs and ratios, CPU a declaration per process, memory, disk, bus."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from singlewindow.resources.procs import LOAD_TOOL
from singlewindow.resources.tables import Grid, bus_grid, disk_grid, order


def summary_grid(f: dict[str, Any]) -> Grid:
    """Throughputs, the raw chain, the skeletons and their ratios."""
    grid = Grid("bench", ("measure", "value"))
    raw, e2e = f["raw_chain"], f["e2e_throughput"]
    grid.rows.append(("sustained end-to-end declarations/s, single POSTs", f"{e2e:.0f}"))
    if f["batch"] > 1:
        grid.rows.append(
            (
                f"sustained end-to-end declarations/s, batches of {f['batch']}",
                f"{f['batch_throughput']:.0f}",
            )
        )
    grid.rows.append((f"raw chain of {f['hops']} hops, messages/s", f"{raw:.0f}"))
    grid.rows.append(("ratio (single / raw chain)", f"{f['ratio']:.3f}"))
    for name, rate in f["skeleton"].items():
        grid.rows += [
            (f"skeleton of the {name} flow, declarations/s (saturated)", f"{rate:.0f}"),
            (f"  {name} skeleton / raw chain", f"{rate / raw:.3f}" if raw else "n/a"),
            (f"  end to end / {name} skeleton", f"{e2e / rate:.3f}" if rate else "n/a"),
        ]
    return grid


def cpu_grid(f: dict[str, Any]) -> Grid:
    """CPU ms a declaration per process, a column per search, idle CPU and memory beside it."""
    columns = f["cpu_ms_per_declaration"]
    idle = f.get("idle_cpu_ms_per_s", {})
    memory = f["footprint"]["memory"]
    grid = Grid(
        "CPU per process (ms a declaration, at the highest sustained rate)",
        ("process", *columns, "idle, ms/s at rest", "RSS before → after MB"),
    )
    for p in sorted({p for cpu in columns.values() for p in cpu} | set(idle), key=order):
        mem = memory.get(p)
        grid.rows.append(
            (
                p,
                *(f"{cpu[p]:.2f}" if p in cpu else "" for cpu in columns.values()),
                f"{idle[p]:.1f}" if p in idle else "",
                f"{mem['before'] / 1e6:.0f} → {mem['after'] / 1e6:.0f}" if mem else "",
            )
        )
    grid.totals.append(
        (
            "system (all but the load tool)",
            *(f"{f['cpu_ms_per_declaration_system'][k]:.2f}" for k in columns),
            f"{sum(v for k, v in idle.items() if k != LOAD_TOOL):.1f}",
            "",
        )
    )
    above = f.get("cpu_ms_per_declaration_above_rest", {})
    grid.totals.append(
        ("system, less its CPU at rest", *(f"{above.get(k, 0):.2f}" for k in columns), "", "")
    )
    return grid


def print_tables(console: Console, f: dict[str, Any]) -> None:
    """Every table of the bench, in reading order."""
    tables = [summary_grid(f), cpu_grid(f), disk_grid(f["footprint"])]
    tables += [bus_grid(bus, f"{name}, ") for name, bus in f["bus"].items()]
    for grid in tables:
        console.print(grid.rich())


def last_line(f: dict[str, Any]) -> str:
    """The line scripts read."""
    cpu = f["cpu_ms_per_declaration_system"]
    single = next(iter(cpu.values()), 0.0)
    return (
        f"e2e_throughput={f['e2e_throughput']:.0f}/s batch_throughput={f['batch_throughput']:.0f}/s "
        f"raw_chain={f['raw_chain']:.0f}/s ratio={f['ratio']:.3f} hops={f['hops']} "
        f"cpu_ms_per_declaration={single:.2f}"
    )
