"""Will a planned run fit the machine? Its volume against free memory and disk (pure + /proc)."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

# Measured on 2026-12-06 before the broker and disk were bounded (issue 20): the embedded
# broker kept about 30 KB a declaration, the four databases about 50 KB.
ASSUMED_BROKER_BYTES = 30_000
ASSUMED_DISK_BYTES = 50_000
HEADROOM = 0.8  # warn above this share of what is free


@dataclass(frozen=True)
class Need:
    """What one resource a run needs against what the machine has free."""

    what: str
    need_bytes: int
    free_bytes: int
    per_declaration: int
    source: str  # "measured" or "assumed"
    held: int | None = None  # declarations kept at once, when fewer than the run's

    @property
    def fits(self) -> bool:
        """Whether the need stays under the headroom share of what is free."""
        return self.need_bytes <= HEADROOM * self.free_bytes

    def warning(self, declarations: int) -> str:
        """One line that says what would not fit and by how much."""
        count = f"{declarations:,} declarations"
        if self.held is not None:
            count = f"{self.held:,} of {declarations:,} declarations kept at once"
        return (
            f"{count} × {self.per_declaration / 1000:.1f} KB "
            f"({self.source}) = {self.need_bytes / 1e9:.2f} GB of {self.what}, but "
            f"{self.free_bytes / 1e9:.2f} GB is free: the run may not fit"
        )


def needs(
    declarations: int,
    *,
    broker_per_declaration: int | None,
    disk_per_declaration: int | None,
    free_memory: int,
    free_disk: int,
    broker_keeps: int | None = None,
    disk_keeps: int | None = None,
) -> list[Need]:
    """The broker's memory and the databases' disk a run of `declarations` would take.

    `broker_keeps`, `disk_keeps`: how many declarations each keeps at once at most (topic
    generations, retention), when they are bounded; None: all of them."""
    out = []
    for what, measured, assumed, free, keeps in (
        ("broker memory", broker_per_declaration, ASSUMED_BROKER_BYTES, free_memory, broker_keeps),
        ("disk", disk_per_declaration, ASSUMED_DISK_BYTES, free_disk, disk_keeps),
    ):
        if free <= 0:  # unknown here: nothing to compare with
            continue
        per = measured if measured is not None and measured > 0 else assumed
        source = "measured" if per == measured else "assumed"
        held = keeps if keeps is not None and keeps < declarations else None
        count = declarations if held is None else held
        out.append(Need(what, count * per, free, per, source, held))
    return out


def kept_at_once(
    rate: float, *, generation_s: float, retention_s: float
) -> tuple[int | None, int | None]:
    """How many declarations the broker and the databases keep at once at `rate` a second:
    the broker about two generations (one written, the last one until it is read and
    deleted at mid-period, and a margin), the databases the retention period and two minutes
    for the flow and the purge's round; None where nothing bounds it."""
    broker = math.ceil(rate * 2.5 * generation_s) if generation_s > 0 else None
    disk = math.ceil(rate * (retention_s + 120)) if retention_s > 0 else None
    return broker, disk


def free_memory() -> int:
    """MemAvailable from /proc/meminfo, in bytes (0 if unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def free_disk(path: Path) -> int:
    """Free bytes on the file system holding `path` (or its nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free
