"""The bench's search: constant-rate steps through the load tool, each measured as it runs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from singlewindow.load.plan import MixEntry, Profile
from singlewindow.load.runner import LoadConfig, LoadRun
from singlewindow.loop import run as run_loop
from singlewindow.resources.bus import Offsets, bus_per_declaration, end_offsets, traffic
from singlewindow.resources.gauge import Gauge, cpu_ms_per_declaration
from singlewindow.resources.procs import LOAD_TOOL

P99_LIMIT_MS = 1000.0
KEEP_UP = 0.95
EXPORT_HAPPY = (MixEntry("export", "0110", "happy", 1.0),)


@dataclass
class Trial:
    """One constant-rate step of the search."""

    rate: float
    sent: int
    completed: int
    completion_rate: float
    p99_ms: float
    errors: int
    batch: int = 1
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per process, a declaration
    error_kinds: dict[str, int] = field(default_factory=dict)
    window_s: float = 0.0  # wall time the CPU figures span (sending and draining)

    @property
    def sustained(self) -> bool:
        """Completions kept up and p99 completion stayed under the limit."""
        return (
            self.sent > 0
            and self.completed >= KEEP_UP * self.sent
            and self.errors == 0
            and self.p99_ms < P99_LIMIT_MS
        )


@dataclass
class Measured:
    """What a trial left behind to measure later: the bus offsets around it."""

    trial: Trial
    start: Offsets  # where reading its records may begin
    began_at: float  # wall clock (the records' timestamps)
    ended_at: float


def run_step(config: LoadConfig, rate: float, duration_s: float, gauge: Gauge | None) -> Measured:
    """Offer `rate` declarations a second for `duration_s`, wait for them, and measure it."""
    run = LoadRun(config)

    async def go() -> tuple[Offsets, float]:
        start, began_at = await end_offsets(config.bootstrap), time.time()
        await run.run_open(Profile.parse(str(rate), duration_s).send_times(), EXPORT_HAPPY)
        return start, began_at

    first = gauge.sample(0) if gauge else None
    start, began_at = run_loop(go())
    last = gauge.sample(0) if gauge else None
    window = time.time() - began_at
    completed = run.recorder.completion.get_total_count()
    p99 = run.recorder.completion.get_value_at_percentile(99) / 1000 if completed else float("inf")
    trial = Trial(
        rate,
        run.sent_count,
        completed,
        completed / duration_s,
        p99,
        sum(run.recorder.errors.values()),
        config.batch,
        cpu_ms_per_declaration(first, last, completed) if first and last else {},
        dict(run.recorder.errors),
        round(window, 2),
    )
    return Measured(trial, start, began_at, time.time())


def idle_cpu(gauge: Gauge, seconds: float) -> dict[str, float]:
    """Each process's CPU at rest (nothing submitted), in milliseconds a second."""
    first = gauge.sample(0)
    time.sleep(seconds)  # the measuring window itself, not a wait for a condition
    last = gauge.sample(seconds)
    return {
        name: round((last.cpu_s[name] - first.cpu_s.get(name, 0.0)) * 1000 / seconds, 2)
        for name in last.cpu_s
    }


def _say(console: Console, t: Trial) -> None:
    console.print(
        f"  {t.rate:>6.0f}/s: completed {t.completed}/{t.sent}, p99 {t.p99_ms:.0f} ms, "
        f"errors {t.errors}{f' {t.error_kinds}' if t.errors else ''} → "
        f"{'sustained' if t.sustained else 'not sustained'}"
    )


def sustained_throughput(
    config: LoadConfig,
    rates: Sequence[float],
    duration_s: float,
    bisect_steps: int,
    console: Console,
    gauge: Gauge | None = None,
) -> tuple[float, list[Measured]]:
    """Step the arrival rate up until a step fails, then bisect between the last good and bad."""
    trials: list[Measured] = []
    good, bad = 0.0, None
    for rate in rates:
        m = run_step(config, rate, duration_s, gauge)
        trials.append(m)
        _say(console, m.trial)
        if not m.trial.sustained:
            bad = rate
            break
        good = rate
    for _ in range(bisect_steps if bad else 0):
        assert bad is not None
        rate = round((good + bad) / 2)
        if rate in (good, bad):
            break
        m = run_step(config, rate, duration_s, gauge)
        trials.append(m)
        _say(console, m.trial)
        if m.trial.sustained:
            good = rate
        else:
            bad = rate
    return good, trials


def best(trials: list[Measured]) -> Measured:
    """The trial at the highest sustained rate, else the one at the lowest rate."""
    kept = [m for m in trials if m.trial.sustained]
    if kept:
        return max(kept, key=lambda m: m.trial.rate)
    return min(trials, key=lambda m: m.trial.rate)


def bus_of_step(bootstrap: str, m: Measured) -> dict[str, Any]:
    """Records and bytes a declaration each topic took during a step (read back now)."""
    moved, _, _ = run_loop(traffic(bootstrap, m.start, m.began_at, m.ended_at, budget_s=120))
    return bus_per_declaration(moved, m.trial.completed)


def cpu_figures(chosen: dict[str, Measured], idle: dict[str, float]) -> dict[str, Any]:
    """CPU a declaration per process of each chosen step, the system's sum, and that sum less
    what the system burns at rest over the step (polls and timers, in ms a second)."""
    at_rest = sum(v for p, v in idle.items() if p != LOAD_TOOL)
    cpu, system, above = {}, {}, {}
    for name, m in chosen.items():
        column = f"{name} at {m.trial.rate:.0f}/s"
        cpu[column] = m.trial.cpu_ms
        system[column] = round(sum(v for p, v in m.trial.cpu_ms.items() if p != LOAD_TOOL), 3)
        idle_share = at_rest * m.trial.window_s / max(m.trial.completed, 1)
        above[column] = round(system[column] - idle_share, 3)
    return {
        "cpu_ms_per_declaration": cpu,
        "cpu_ms_per_declaration_system": system,
        "cpu_ms_per_declaration_above_rest": above,
    }
