"""Sampling a running system: each process's CPU and memory, each database's size."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from singlewindow.resources.disk import database_sizes
from singlewindow.resources.procs import (
    data_dir_of,
    snapshot,
    supervisor_of,
    system_processes,
)
from singlewindow.resources.slope import after_warmup, trend

PAGE = 4096  # what a size is measured to: a memory or database page


@dataclass(frozen=True)
class Sample:
    """One look at the system, `t` seconds into a run."""

    t: float
    cpu_s: dict[str, float]
    rss: dict[str, int]
    disk: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (CPU in seconds, sizes in bytes)."""
        return {"t": self.t, "cpu_s": self.cpu_s, "rss": self.rss, "disk": self.disk}


@dataclass
class Gauge:
    """The processes (by name) and the data folder of one system."""

    pids: dict[str, int]
    data_dir: Path | None
    supervisor: int | None = None
    samples: list[Sample] = field(default_factory=list)

    @classmethod
    def of_supervisor(cls, supervisor_pid: int, data_dir: Path) -> Gauge:
        """A system started by `singlewindow up` as `supervisor_pid` (e.g. `spawn_system`)."""
        return cls(system_processes(supervisor_pid), data_dir, supervisor_pid)

    @classmethod
    def near(cls, gateway_url: str) -> Gauge | None:
        """The system whose gateway listens at this URL, if it runs on this machine as us."""
        parts = urlsplit(gateway_url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1") or not os.path.isdir("/proc"):
            return None
        gateway, supervisor = supervisor_of(parts.port or 80)
        if gateway is None:
            return None
        # From the gateway to its supervisor and all its children; a gateway alone if none.
        pids = system_processes(supervisor) if supervisor else {"gateway": gateway}
        return cls(pids, data_dir_of(gateway), supervisor)

    def sample(self, t: float) -> Sample:
        """Read every process and database now; a restarted child is found again by name."""
        if self.supervisor and any(not os.path.exists(f"/proc/{p}") for p in self.pids.values()):
            self.pids = system_processes(self.supervisor)
        usage = snapshot(self.pids)
        taken = Sample(
            round(t, 3),
            {k: round(u.cpu_s, 3) for k, u in usage.items()},
            {k: u.rss_bytes for k, u in usage.items()},
            database_sizes(self.data_dir) if self.data_dir else {},
        )
        self.samples.append(taken)
        return taken


def cpu_ms_per_declaration(before: Sample, after: Sample, declarations: int) -> dict[str, float]:
    """Each process's CPU between two samples, in milliseconds a declaration."""
    if declarations <= 0:
        return {}
    return {
        name: round((after.cpu_s[name] - before.cpu_s.get(name, 0.0)) * 1000 / declarations, 3)
        for name in after.cpu_s
    }


def footprint(before: Sample, after: Sample, declarations: int) -> dict[str, Any]:
    """Memory per process and disk per database before and after, and the growth a declaration."""

    def rows(a: dict[str, int], b: dict[str, int]) -> dict[str, dict[str, float]]:
        return {
            name: {
                "before": a.get(name, 0),
                "after": b[name],
                "per_declaration": round((b[name] - a.get(name, 0)) / declarations, 1)
                if declarations
                else 0.0,
            }
            for name in b
        }

    return {
        "declarations": declarations,
        "memory": rows(before.rss, after.rss),
        "disk": rows(before.disk, after.disk),
    }


def trends(samples: list[Sample], warmup_s: float) -> dict[str, dict[str, Any]]:
    """Each process's memory and each database's size after warm-up: slope a minute, verdict."""
    series: dict[str, list[tuple[float, float]]] = {}
    for s in samples:
        for name, rss in s.rss.items():
            series.setdefault(f"memory: {name}", []).append((s.t, rss))
        for name, size in s.disk.items():
            series.setdefault(f"disk: {name}", []).append((s.t, size))
    out = {}
    for name, points in series.items():
        kept = after_warmup(points, warmup_s)
        fitted = trend(kept, quantum=PAGE)
        if fitted:
            out[name] = {
                "slope_per_min": round(fitted.slope_per_min, 1),
                "band_per_min": round(fitted.band_per_min, 1),
                "noise": round(fitted.noise, 1),
                "samples": fitted.samples,
                "first": kept[0][1],
                "last": kept[-1][1],
                "verdict": fitted.verdict,
            }
    return out
