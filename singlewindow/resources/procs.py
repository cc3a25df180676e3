"""The system's processes and their CPU time and memory, read from /proc (Linux)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")
LOAD_TOOL = "load tool"


@dataclass(frozen=True)
class Usage:
    """A process's CPU seconds so far (user + system) and its resident memory."""

    cpu_s: float
    rss_bytes: int


def _stat(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return text[text.rindex(")") + 2 :].split()


def _cmdline(pid: int) -> list[str]:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def usage(pid: int) -> Usage | None:
    """CPU seconds and RSS of a live process, or None once it is gone."""
    fields = _stat(pid)
    if fields is None:
        return None
    # After the name: state ppid … utime (index 11) stime (12) … rss in pages (21).
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    return Usage(cpu, int(fields[21]) * os.sysconf("SC_PAGE_SIZE"))


def role_of(argv: list[str]) -> str | None:
    """`broker` for the embedded broker, the service for `python -m singlewindow.serve X`."""
    if argv and Path(argv[0]).name.startswith("tansu"):
        return "broker"
    if "singlewindow.serve" in argv:
        at = argv.index("singlewindow.serve") + 1
        return argv[at] if at < len(argv) else None
    return None


def children_of(parent: int) -> list[int]:
    """The pids whose parent is `parent`."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and int(fields[1]) == parent:
                found.append(int(entry.name))
    return sorted(found)


def parent_of(pid: int) -> int | None:
    """A process's parent pid."""
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def system_processes(supervisor_pid: int) -> dict[str, int]:
    """The broker and every service replica started by `singlewindow up` (customs, customs-2, …)."""
    named: dict[str, int] = {}
    seen: Counter[str] = Counter()
    for pid in children_of(supervisor_pid):
        role = role_of(_cmdline(pid))
        if role:
            seen[role] += 1
            named[role if seen[role] == 1 else f"{role}-{seen[role]}"] = pid
    return named


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def listener_of(port: int) -> int | None:
    """The pid of one of this user's processes listening on a local TCP port."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return None
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return int(entry.name)
        except OSError:
            continue
    return None


def supervisor_of(gateway_port: int) -> tuple[int | None, int | None]:
    """The pid of the gateway listening on `gateway_port`, and of the `singlewindow up` that
    started it (None when it was started otherwise or does not run here)."""
    gateway = listener_of(gateway_port)
    if gateway is None:
        return None, None
    parent = parent_of(gateway)
    argv = _cmdline(parent) if parent else []
    if "up" in argv and any("singlewindow" in a for a in argv):
        return gateway, parent
    return gateway, None


def data_dir_of(pid: int) -> Path | None:
    """The SW_DATA_DIR a service process runs with (the supervisor sets it, resolved)."""
    try:
        env = (PROC / str(pid) / "environ").read_bytes().split(b"\0")
        cwd = Path(os.readlink(PROC / str(pid) / "cwd"))
    except OSError:
        return None
    for item in env:
        if item.startswith(b"SW_DATA_DIR="):
            return cwd / item.split(b"=", 1)[1].decode()
    return cwd / "var"


def snapshot(pids: dict[str, int]) -> dict[str, Usage]:
    """Each named process's usage now, and the load tool's own (this process)."""
    out = {name: u for name, pid in pids.items() if (u := usage(pid)) is not None}
    own = usage(os.getpid())
    if own:
        out[LOAD_TOOL] = own
    return out
