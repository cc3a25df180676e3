"""The bench's yardsticks and its report run on a real broker with real processes and measure
something; the report has every figure the bench promises (its shape, not its speeds)."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from singlewindow.bench.report import last_line
from singlewindow.bench.run import BenchPlan, bench, raw_chain, skeleton

SERVICES = {"broker", "gateway", "customs", "inspection", "forex", "tax", "load tool"}


def test_the_skeleton_of_either_shape_completes_declarations() -> None:
    # The driver returns only once every declaration's last status came back (or it times out
    # at 60 s, which would show as a rate far below 200 / 60).
    assert skeleton(200, "new") > 200 / 60
    assert skeleton(200, "old") > 200 / 60


def test_the_raw_chain_passes_messages_through_its_hops() -> None:
    rate = raw_chain(2, 1000)
    assert rate > 1000 / 60


def test_the_bench_reports_cpu_memory_disk_and_bus_bytes_per_declaration() -> None:
    tiny = BenchPlan((10,), (20,), 2.0, 0, 1.0, 1000, 200, False)
    console = Console(record=True, width=200)
    figures = bench(quick=True, replicas="", console=console, batch=10, plan=tiny)
    text = console.export_text()

    [single, batched] = figures["trials"]
    assert (single["rate"], single["batch"], batched["rate"], batched["batch"]) == (10, 1, 20, 10)
    assert single["sent"] == 20 and batched["sent"] == 40  # 2 s at 10/s and at 20/s
    # Every process of the system and the load tool has its CPU a declaration, in both columns.
    cpu = figures["cpu_ms_per_declaration"]
    assert set(cpu) == {"single at 10/s", "batch 10 at 20/s"}
    for column in cpu.values():
        assert set(column) == SERVICES
        assert column["gateway"] > 0 and column["broker"] > 0
    assert set(figures["idle_cpu_ms_per_s"]) == SERVICES
    for column, total in figures["cpu_ms_per_declaration_system"].items():
        # The system's sum leaves the load tool out; less the CPU at rest it is smaller.
        assert total == pytest.approx(sum(v for k, v in cpu[column].items() if k != "load tool"))
        assert figures["cpu_ms_per_declaration_above_rest"][column] <= total
    # Memory before and after per process; disk per service database.
    memory = figures["footprint"]["memory"]
    assert set(memory) == SERVICES and all(m["after"] > 0 for m in memory.values())
    assert {"gateway", "customs", "forex", "tax"} <= set(figures["footprint"]["disk"])
    assert figures["footprint"]["declarations"] == single["completed"] + batched["completed"]
    # Bytes on the bus: the status topic carries a record per change of every declaration.
    bus = figures["bus"]["single"]
    assert bus["declarations"] == single["completed"]
    status = bus["topics"]["sw.declarations.status"]
    assert status["records_per_declaration"] >= 2 and status["bytes_per_declaration"] > 0
    by_topic = sum(t["bytes_per_declaration"] for t in bus["topics"].values())
    assert abs(bus["bytes_per_declaration"] - by_topic) <= len(bus["topics"])  # each rounded
    for title in ("CPU per process", "disk per database", "on the bus", "skeleton of the new flow"):
        assert title in text
    line = last_line(figures)
    assert re.fullmatch(
        r"e2e_throughput=\d+/s batch_throughput=\d+/s raw_chain=\d+/s ratio=\d+\.\d{3} "
        r"hops=6 cpu_ms_per_declaration=\d+\.\d\d",
        line,
    ), line
