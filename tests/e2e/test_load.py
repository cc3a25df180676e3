"""The load tool against the real system: every declaration sent is accounted for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import System


def test_an_open_load_run_measures_every_declaration_it_sent(
    system: System, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "singlewindow",
            "load",
            "--rate",
            "20",
            "--duration",
            "3",
            "--mix",
            "export/0110/happy=1,import/0110/happy=1",
            "--gateway",
            system.url("gateway"),
            "--kafka",
            system.broker,
            "--out",
            str(out),
            "--timeout",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
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
    assert report["offered_per_s"] == [20.0, 20.0, 20.0]
    html = (out / "report.html").read_text()
    assert "<svg" in html and "completion latency" in html
    assert 'data-name="offered/s"' in html and 'data-name="completed/s"' in html
    assert "latency (ms)" in result.stdout


def test_a_closed_load_run_keeps_n_clients_busy(system: System, tmp_path: Path) -> None:
    out = tmp_path / "closed"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "singlewindow",
            "load",
            "--model",
            "closed",
            "--clients",
            "4",
            "--duration",
            "3",
            "--mix",
            "export/0110/happy=1",
            "--gateway",
            system.url("gateway"),
            "--kafka",
            system.broker,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["sent"] >= 4
    assert report["completion_ms"]["count"] == report["sent"]
    assert report["errors"] == {}
