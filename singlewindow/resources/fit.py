"""Will a planned run fit the machine? Its volume against free memory and disk (pure + /proc)."""

from __future__ import annotations

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

    @property
    def fits(self) -> bool:
        """Whether the need stays under the headroom share of what is free."""
        return self.need_bytes <= HEADROOM * self.free_bytes

    def warning(self, declarations: int) -> str:
        """One line that says what would not fit and by how much."""
        return (
            f"{declarations:,} declarations × {self.per_declaration / 1000:.1f} KB "
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
) -> list[Need]:
    """The broker's memory and the databases' disk a run of `declarations` would take."""
    out = []
    for what, measured, assumed, free in (
        ("broker memory", broker_per_declaration, ASSUMED_BROKER_BYTES, free_memory),
        ("disk", disk_per_declaration, ASSUMED_DISK_BYTES, free_disk),
    ):
        if free <= 0:  # unknown here: nothing to compare with
            continue
        per = measured if measured is not None and measured > 0 else assumed
        source = "measured" if per == measured else "assumed"
        out.append(Need(what, declarations * per, free, per, source))
    return out


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
