"""Disk per service database: the SQLite file and its write-ahead log."""

from __future__ import annotations

from pathlib import Path

SUFFIXES = ("", "-wal", "-shm")


def database_sizes(data_dir: Path) -> dict[str, int]:
    """Bytes of each `<service>.db` in `data_dir` with its -wal and -shm files."""
    sizes: dict[str, int] = {}
    for db in sorted(data_dir.glob("*.db")):
        total = 0
        for suffix in SUFFIXES:
            path = db.with_name(db.name + suffix)
            if path.exists():
                total += path.stat().st_size
        sizes[db.stem] = total
    return sizes
