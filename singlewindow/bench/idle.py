"""At rest: each process's CPU while nothing is submitted, and the first declaration after.

`measure_idle` starts a fresh system as `make run` does (`singlewindow up` through
`spawn_system`), lets it settle, samples every process's CPU time from /proc over a quiet
spell, then times declarations submitted one at a time after quiet spells: POST to completed.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from schemas.samples import sample_declaration
from singlewindow.spawn import spawn_system

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class IdleReport:
    """CPU share of a core per process at rest, and POST-to-completed times after quiet."""

    seconds: float
    cpu_share: dict[str, float] = field(default_factory=dict)
    first_completion_s: list[float] = field(default_factory=list)

    @property
    def total(self) -> float:
        """The share of one core all processes used together."""
        return sum(self.cpu_share.values())

    def lines(self) -> list[str]:
        """The report as text, one figure a line; the last is the summary."""
        out = [
            f"{name:12s} {share * 100:5.2f}% of a core" for name, share in self.cpu_share.items()
        ]
        firsts = " ".join(f"{s * 1000:.0f}" for s in self.first_completion_s)
        out.append(
            f"idle_cpu={self.total * 100:.2f}% over {self.seconds:.0f}s "
            f"first_declaration_ms={firsts or '-'}"
        )
        return out


def _descendants(root: int) -> list[int]:
    """Every process under `root` (children of children too), from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        kids = [p for p, parent in parents.items() if parent == pid]
        found.extend(kids)
        todo.extend(kids)
    return found


def _name(pid: int) -> str:
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    words = [a.decode(errors="replace") for a in argv if a]
    if any(w.endswith("tansu") or w == "broker" for w in words[:2]):
        return "broker"
    if "singlewindow.serve" in words:
        return words[words.index("singlewindow.serve") + 1]
    return Path(words[0]).name if words else str(pid)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def cpu_shares(root: int, seconds: float) -> dict[str, float]:
    """Each process's share of one core over `seconds` (processes under `root`, by name)."""
    pids = {pid: _name(pid) for pid in _descendants(root)}
    before = {pid: _cpu_s(pid) for pid in pids}
    started = time.monotonic()
    time.sleep(seconds)  # the quiet spell being measured
    elapsed = time.monotonic() - started
    shares: dict[str, float] = {}
    for pid, name in sorted(pids.items(), key=lambda p: p[1]):
        try:
            used = _cpu_s(pid) - before[pid]
        except OSError:
            continue
        shares[name] = shares.get(name, 0.0) + used / elapsed
    return shares


def time_one_declaration(
    gateway: str, *, api_key: str = "sk_test_singlewindow_demo", timeout_s: float = 30
) -> float:
    """Seconds from POST to the declaration's `completed` status (polled every 10 ms)."""
    auth = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=gateway, timeout=10, headers=auth) as client:
        started = time.monotonic()
        resp = client.post("/v1/declarations", json=sample_declaration())
        resp.raise_for_status()
        url = f"/v1/declarations/{resp.json()['id']}"
        while time.monotonic() - started < timeout_s:
            if client.get(url).json().get("status") == "completed":
                return time.monotonic() - started
            time.sleep(0.01)  # polling with a deadline
    raise TimeoutError(f"declaration not completed within {timeout_s}s")


def measure_idle(
    seconds: float = 30,
    *,
    settle_s: float = 10,
    quiet_s: float = 15,
    declarations: int = 2,
    extra_env: dict[str, str] | None = None,
) -> IdleReport:
    """Start a fresh system; its CPU at rest over `seconds`; then `declarations` timed one by
    one, each after `quiet_s` of nothing (the first after the measured spell)."""
    with tempfile.TemporaryDirectory(prefix="sw-idle-") as tmp:
        with spawn_system(Path(tmp), extra_env=extra_env) as system:
            # One declaration first: every consumer has joined and the code paths are warm.
            time_one_declaration(system.url("gateway"))
            time.sleep(settle_s)  # let the system fall quiet before measuring
            report = IdleReport(seconds, cpu_shares(system.proc.pid, seconds))
            for i in range(declarations):
                if i:
                    time.sleep(quiet_s)  # the quiet spell before the next one
                report.first_completion_s.append(time_one_declaration(system.url("gateway")))
            return report
