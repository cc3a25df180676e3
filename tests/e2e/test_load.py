"""The load tool against the real system: every declaration sent is accounted for."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import System


def test_an_open_load_run_measures_every_declaration_it_sent(
    system: System, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    # An earlier report measured a petabyte of broker memory a declaration: no machine has room
    # for 60 of those, and the load tool says so before it starts (and runs anyway).
    out.mkdir()
    (out / "report.json").write_text(
        json.dumps(
            {
                "resources": {
                    "footprint": {"memory": {"broker": {"per_declaration": 1e15}}, "disk": {}}
                }
            }
        )
    )
    result = system.load(
        out,
        *("--rate", "20", "--duration", "3", "--timeout", "60"),
        *("--mix", "export/0110/happy=1,import/0110/happy=1"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    said = " ".join(result.stdout.split())  # the terminal's width wraps the lines
    assert "warning: 60 declarations × 1000000000000.0 KB (measured)" in said
    assert "of broker memory" in said and "the run may not fit" in said
    report = json.loads((out / "report.json").read_text())
    assert report["sent"] == 60  # 20/s for 3 s
    assert report["accept_ms"]["count"] == 60
    assert report["completion_ms"]["count"] == 60
    assert report["outcomes"] == {"completed": 60}
    assert report["errors"] == {}
    assert set(report["completion_by_kind_ms"]) == {"export/0110/happy", "import/0110/happy"}
    assert {"customs", "forex", "tax"} <= set(report["stage_ms"])
    assert (
        report["completion_ms"]["p50"]
        <= report["completion_ms"]["p99"]
        <= report["completion_ms"]["max"]
    )
    # What the run cost: every process's CPU and memory, every database, the bus a declaration.
    resources = report["resources"]
    processes = {"broker", "gateway", "customs", "inspection", "forex", "tax", "load tool"}
    assert set(resources["footprint"]["memory"]) == processes
    assert set(resources["cpu_ms_per_declaration"]) == processes
    assert {"gateway", "customs", "forex", "tax"} <= set(resources["footprint"]["disk"])
    assert resources["footprint"]["declarations"] == 60
    assert resources["bus"]["declarations"] == 60 and not resources["bus"]["partial"]
    # Every declaration puts at least its submission's and its end's status on the bus.
    status = resources["bus"]["topics"]["sw.declarations.status"]
    assert status["records_per_declaration"] >= 2
    assert resources["bus"]["bytes_per_declaration"] >= status["bytes_per_declaration"] > 0
    assert report["offered_per_s"] == [20.0, 20.0, 20.0]
    html = (out / "report.html").read_text()
    assert "disk per database" in html and "on the bus, a declaration" in html
    assert "<svg" in html and "completion latency" in html
    assert 'data-name="offered/s"' in html and 'data-name="completed/s"' in html
    assert "latency (ms)" in result.stdout


def test_a_closed_load_run_keeps_n_clients_busy(system: System, tmp_path: Path) -> None:
    out = tmp_path / "closed"
    result = system.load(
        out,
        *("--model", "closed", "--clients", "4", "--duration", "3"),
        "--mix",
        "export/0110/happy=1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["sent"] >= 4
    assert report["completion_ms"]["count"] == report["sent"]
    assert report["errors"] == {}
