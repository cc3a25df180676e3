"""What a load run costs the machine: the check before it, the figures after it."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from singlewindow.load.recorder import Recorder
from singlewindow.resources import fit
from singlewindow.resources.gauge import Gauge, trends

SOAK_DURATION_S = 7200.0  # two hours, what issue 20 asks a soak to show
SOAK_SAMPLE_EVERY_S = 10.0
POINTS = 120  # a long run's series keeps about this many points


def bucket_for(duration_s: float) -> int:
    """Seconds a point of the report's series covers: 1 up to ten minutes, then ~120 points."""
    return 1 if duration_s <= 600 else math.ceil(duration_s / POINTS)


def measured_per_declaration(previous: Path) -> tuple[int | None, int | None]:
    """Broker memory and disk a declaration, from an earlier report.json if it has them."""
    try:
        footprint = json.loads(previous.read_text(encoding="utf-8"))["resources"]["footprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None, None
    broker = footprint["memory"].get("broker", {}).get("per_declaration")
    disk = sum(d["per_declaration"] for d in footprint["disk"].values())
    return (round(broker) if broker else None), (round(disk) if disk else None)


def warnings(
    declarations: int,
    previous: Path,
    data_dir: Path,
    *,
    rate: float | None = None,
    generation_s: float = 0.0,
    retention_s: float = 0.0,
) -> list[str]:
    """A line for each of broker memory and disk that the planned run would not fit in,
    counting only what the broker and databases keep at once when their bounds are known."""
    broker, disk = measured_per_declaration(previous)
    broker_keeps, disk_keeps = (
        fit.kept_at_once(rate, generation_s=generation_s, retention_s=retention_s)
        if rate
        else (None, None)
    )
    needs = fit.needs(
        declarations,
        broker_per_declaration=broker,
        disk_per_declaration=disk,
        free_memory=fit.free_memory(),
        free_disk=fit.free_disk(data_dir),
        broker_keeps=broker_keeps,
        disk_keeps=disk_keeps,
    )
    return [n.warning(declarations) for n in needs if not n.fits]


def resources_report(
    figures: dict[str, Any], gauge: Gauge | None, warmup_s: float | None
) -> dict[str, Any]:
    """The watch's figures, the gauge's series and, for a soak, the trends after warm-up."""
    out = dict(figures)
    if gauge:
        out["samples"] = [s.as_dict() for s in gauge.samples]
        if warmup_s is not None:
            out["warmup_s"] = warmup_s
            out["trends"] = trends(gauge.samples, warmup_s)
    return out


def sent_until(recorder: Recorder, t0: float) -> Callable[[float], int]:
    """Declarations sent before a wall-clock time, for a run whose monotonic start was `t0`."""
    wall_t0 = time.time() - (time.monotonic() - t0)

    def count(wall: float) -> int:
        last = (wall - wall_t0) // recorder.bucket_s  # buckets wholly before `wall`
        return sum(s.sent for i, s in recorder.seconds.items() if i < last)

    return count
