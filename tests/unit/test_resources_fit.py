"""Before a load run: will its planned volume fit the machine's free memory and disk?"""

from __future__ import annotations

import json
from pathlib import Path

from singlewindow.load.costs import bucket_for, measured_per_declaration, warnings
from singlewindow.resources.fit import (
    ASSUMED_BROKER_BYTES,
    ASSUMED_DISK_BYTES,
    kept_at_once,
    needs,
)


def test_a_run_that_fits_gives_no_warning() -> None:
    # 100/s for 20 s = 2,000 declarations × 30 KB = 60 MB of broker memory against 1 GB free;
    # × 50 KB = 100 MB of disk against 10 GB.
    out = needs(
        2_000,
        broker_per_declaration=None,
        disk_per_declaration=None,
        free_memory=10**9,
        free_disk=10**10,
    )
    assert [(n.what, n.need_bytes, n.source, n.fits) for n in out] == [
        ("broker memory", 2_000 * ASSUMED_BROKER_BYTES, "assumed", True),
        ("disk", 2_000 * ASSUMED_DISK_BYTES, "assumed", True),
    ]


def test_a_two_hour_soak_at_100_a_second_would_not_fit_in_24_gb() -> None:
    # 100/s × 7,200 s = 720,000 declarations × 30 KB = 21.6 GB: above 80% of 24 GB (19.2 GB).
    [memory, disk] = needs(
        720_000,
        broker_per_declaration=30_000,
        disk_per_declaration=2_000,
        free_memory=24 * 10**9,
        free_disk=100 * 10**9,
    )
    assert memory.need_bytes == 21_600_000_000 and not memory.fits
    assert memory.source == "measured"
    assert "720,000 declarations × 30.0 KB (measured) = 21.60 GB of broker memory" in (
        memory.warning(720_000)
    )
    # 720,000 × 2 KB = 1.44 GB of disk against 100 GB: fits.
    assert disk.need_bytes == 1_440_000_000 and disk.fits


def test_a_resource_of_unknown_size_is_not_checked() -> None:
    out = needs(10, broker_per_declaration=1, disk_per_declaration=1, free_memory=0, free_disk=5)
    assert [n.what for n in out] == ["disk"]


def test_the_figures_of_an_earlier_report_are_used_when_it_has_them(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(
        json.dumps(
            {
                "resources": {
                    "footprint": {
                        "memory": {"broker": {"per_declaration": 12_345.6}},
                        "disk": {
                            "gateway": {"per_declaration": 3_000.0},
                            "customs": {"per_declaration": 1_000.0},
                        },
                    }
                }
            }
        )
    )
    assert measured_per_declaration(report) == (12_346, 4_000)
    assert measured_per_declaration(tmp_path / "absent.json") == (None, None)
    # A billion declarations fit no machine: both warnings name their measured figures.
    lines = warnings(10**9, report, tmp_path)
    assert len(lines) == 2
    assert "12.3 KB (measured)" in lines[0] and "4.0 KB (measured)" in lines[1]


def test_a_long_run_keeps_about_120_points_of_series() -> None:
    assert bucket_for(20) == 1 and bucket_for(600) == 1
    assert bucket_for(7200) == 60  # two hours: a point a minute
    assert bucket_for(601) == 6


def test_generations_and_retention_bound_what_a_long_run_needs() -> None:
    # 240/s for two hours: 1,728,000 declarations. Generations of 120 s keep at most
    # 240 × 2.5 × 120 = 72,000 of them in the broker; 5 minutes of retention keeps
    # 240 × (300 + 120) = 100,800 in the databases.
    broker, disk = kept_at_once(240, generation_s=120, retention_s=300)
    assert (broker, disk) == (72_000, 100_800)
    [memory, space] = needs(
        1_728_000,
        broker_per_declaration=15_000,
        disk_per_declaration=50_000,
        free_memory=24 * 10**9,
        free_disk=70 * 10**9,
        broker_keeps=broker,
        disk_keeps=disk,
    )
    assert memory.need_bytes == 72_000 * 15_000 and memory.fits
    assert space.need_bytes == 100_800 * 50_000 and space.fits
    # Unbounded (a real Kafka's retention is not known here, or none set): all of them.
    assert kept_at_once(240, generation_s=0, retention_s=0) == (None, None)
    tight = needs(
        1_728_000,
        broker_per_declaration=15_000,
        disk_per_declaration=50_000,
        free_memory=10**9,
        free_disk=10**9,
        broker_keeps=broker,
        disk_keeps=disk,
    )
    assert "72,000 of 1,728,000 declarations kept at once × 15.0 KB" in tight[0].warning(1_728_000)
