"""A short soak through the load tool: every process's memory and every database's size
sampled, and their slopes after warm-up computed as the report says."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from tests.e2e.conftest import System

PROCESSES = {"broker", "gateway", "customs", "inspection", "forex", "tax", "load tool"}


def test_a_soak_reports_the_slope_of_each_process_memory_and_database_size(
    system: System, tmp_path: Path
) -> None:
    out = tmp_path / "soak"
    result = system.load(
        out,
        *("--soak", "--rate", "10", "--duration", "20", "--warmup", "6", "--sample-every", "2"),
        *("--mix", "export/0110/happy=1", "--timeout", "60"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["sent"] == 200 and report["outcomes"] == {"completed": 200}
    resources = report["resources"]
    samples = resources["samples"]
    assert resources["warmup_s"] == 6
    # Before and after, per process and per database.
    assert set(resources["footprint"]["memory"]) == PROCESSES
    assert {"gateway", "customs", "forex", "tax"} <= set(resources["footprint"]["disk"])
    assert resources["bus"]["topics"]["sw.declarations.status"]["records_per_declaration"] >= 2
    trends = resources["trends"]
    assert {f"memory: {p}" for p in PROCESSES} <= set(trends)
    assert {"disk: gateway", "disk: customs", "disk: forex", "disk: tax"} <= set(trends)
    for name, t in trends.items():
        kind, _, what = name.partition(": ")
        field = "rss" if kind == "memory" else "disk"
        kept = [(s["t"], s[field][what]) for s in samples if s["t"] >= 6 and what in s[field]]
        assert t["samples"] == len(kept) >= 5, name
        # The slope is the least-squares one, a minute: checked against the standard library's.
        fit = statistics.linear_regression([x for x, _ in kept], [y for _, y in kept])
        assert t["slope_per_min"] == pytest.approx(fit.slope * 60, abs=0.1), name
        assert t["verdict"] == (
            "flat"
            if abs(t["slope_per_min"]) <= t["band_per_min"]
            else ("growing" if t["slope_per_min"] > 0 else "shrinking")
        )
    # The gateway's file takes ~35 KB a declaration and 20 s is far inside the retention
    # period: growing. (Inspection has little to do for a happy export, but the session's
    # system is shared: other tests' leftovers and the purge job may still write to it.)
    assert trends["disk: gateway"]["verdict"] == "growing"
    assert "soak: slope after warm-up" in result.stdout
    assert "disk per database" in result.stdout and "per process" in result.stdout
    assert "soak: slope after warm-up" in (out / "report.html").read_text()
