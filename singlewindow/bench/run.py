"""The bench: sustained end-to-end throughput, the raw chain beside it, and their ratio."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from singlewindow.bench.report import print_tables
from singlewindow.bench.skeleton import AGENCIES as SKELETON_AGENCIES
from singlewindow.bench.skeleton import SHAPES
from singlewindow.broker import broker_command, wait_for_port
from singlewindow.load.plan import MixEntry, Profile
from singlewindow.load.runner import LoadConfig, LoadRun
from singlewindow.loop import run as run_loop
from singlewindow.resources.bus import Offsets, bus_per_declaration, end_offsets, traffic
from singlewindow.resources.gauge import Gauge, cpu_ms_per_declaration, footprint
from singlewindow.resources.procs import LOAD_TOOL
from singlewindow.spawn import free_port_block, spawn_system
from singlewindow.supervisor import die_with_parent

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


def _python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"singlewindow.bench.{module}", *args]


def _on_fresh_broker(
    module: str,
    setup: Sequence[str],
    servers: Sequence[Sequence[str]],
    drive: Sequence[str],
) -> float:
    """Start a broker, `module`'s topics and server processes; return what its driver prints."""
    port = free_port_block(1)
    bootstrap = ("--bootstrap", f"127.0.0.1:{port}")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen(
                broker_command(port),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        )
        if not wait_for_port("127.0.0.1", port, 15):
            raise RuntimeError("the bench broker did not start")
        subprocess.run(_python(module, *setup, *bootstrap), check=True)
        for server in servers:
            procs.append(
                subprocess.Popen(_python(module, *server, *bootstrap), preexec_fn=die_with_parent)
            )
        out = subprocess.run(
            _python(module, *drive, *bootstrap), check=True, capture_output=True, text=True
        )
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def raw_chain(hops: int, count: int) -> float:
    """Messages a second through `hops` plain consume→produce processes on a fresh broker."""
    return _on_fresh_broker(
        "chain",
        ("topics", "--hops", str(hops)),
        [("hop", "--index", str(i)) for i in range(hops)],
        ("drive", "--hops", str(hops), "--count", str(count)),
    )


def skeleton(count: int, shape: str = "new") -> float:
    """Declarations a second through the skeleton of `shape` (singlewindow/bench/skeleton.py)."""
    flag = ("--shape", shape)
    return _on_fresh_broker(
        "skeleton",
        ("topics",),
        [("serve", "--as", role, *flag) for role in ("gateway", *SKELETON_AGENCIES)],
        ("drive", "--count", str(count), *flag),
    )


@dataclass
class Measured:
    """What a trial left behind to measure later: the bus offsets around it."""

    trial: Trial
    start: Offsets  # where reading its records may begin
    began_at: float  # wall clock (the records' timestamps)
    ended_at: float


def _trial(config: LoadConfig, rate: float, duration_s: float, gauge: Gauge | None) -> Measured:
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
        m = _trial(config, rate, duration_s, gauge)
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
        m = _trial(config, rate, duration_s, gauge)
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


def _bus(bootstrap: str, m: Measured) -> dict[str, Any]:
    moved, _ = run_loop(traffic(bootstrap, m.start, m.began_at, m.ended_at, budget_s=120))
    return bus_per_declaration(moved, m.trial.completed)


@dataclass(frozen=True)
class BenchPlan:
    """How long and how far each measurement goes."""

    rates: tuple[float, ...]  # single POSTs, declarations a second, stepped up
    batch_rates: tuple[float, ...]  # batches, declarations a second
    duration_s: float  # a step
    bisect: int  # bisections after the first step that fails
    idle_s: float  # the window of CPU at rest
    chain_count: int
    skeleton_count: int
    both_skeletons: bool  # the old flow's skeleton beside the new one's

    @classmethod
    def of(cls, quick: bool) -> BenchPlan:
        """The quick plan (under two minutes) or the full one."""
        if quick:
            return cls(
                (50, 100, 200, 400, 800, 1600),
                (100, 200, 400, 800, 1600, 3200),
                3.0,
                2,
                3.0,
                10_000,
                2_000,
                False,
            )
        return cls(
            (25, 50, 100, 200, 300, 400, 600, 800, 1200, 1600, 2400),
            (100, 200, 400, 800, 1200, 1600, 2400, 3200),
            15.0,
            3,
            10.0,
            100_000,
            20_000,
            True,
        )


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


def end_to_end(plan: BenchPlan, replicas: str, batch: int, console: Console) -> dict[str, Any]:
    """A fresh system: idle CPU, the single and batch searches, and what they cost it."""
    console.print(
        f"[bold]end to end[/bold]: export 0110, constant rate steps of {plan.duration_s:.0f} s, "
        f"sustained = ≥{KEEP_UP:.0%} completed, no errors, p99 < {P99_LIMIT_MS:.0f} ms"
    )
    with tempfile.TemporaryDirectory(prefix="sw-bench-") as tmp:
        args = ("--replicas", replicas) if replicas else ()
        with spawn_system(Path(tmp), args=args) as system:
            gauge = Gauge.of_supervisor(system.proc.pid, Path(tmp))
            config = LoadConfig(
                system.url("gateway"),
                "sk_test_singlewindow_demo",
                system.broker,
                completion_timeout_s=10,
            )
            _trial(config, 10, 2.0, None)  # warm-up: connections, caches, consumer groups
            start = gauge.sample(0)
            idle = idle_cpu(gauge, plan.idle_s)
            e2e, trials = sustained_throughput(
                config, plan.rates, plan.duration_s, plan.bisect, console, gauge
            )
            batched, batch_trials = 0.0, list[Measured]()
            if batch > 1:
                console.print(
                    f"[bold]batches[/bold] of {batch} through POST /v1/declarations/batch"
                )
                config.batch = batch
                batched, batch_trials = sustained_throughput(
                    config, plan.batch_rates, plan.duration_s, plan.bisect, console, gauge
                )
            end = gauge.sample(0)
            chosen = {"single": best(trials)}
            if batch_trials:
                chosen[f"batch {batch}"] = best(batch_trials)
            return {
                "e2e_throughput": e2e,
                "batch_throughput": batched,
                "batch": batch,
                "idle_cpu_ms_per_s": idle,
                "footprint": footprint(
                    start, end, sum(m.trial.completed for m in trials + batch_trials)
                ),
                "bus": {k: _bus(system.broker, m) for k, m in chosen.items()},
                **cpu_figures(chosen, idle),
                "trials": [m.trial.__dict__ for m in trials + batch_trials],
            }


def bench(
    *,
    quick: bool,
    replicas: str,
    console: Console,
    batch: int = 100,
    shape: str = "new",
    plan: BenchPlan | None = None,
) -> dict[str, Any]:
    """Run every measurement side by side and return the figures."""
    plan = plan or BenchPlan.of(quick)
    flow = SHAPES[shape]
    figures = end_to_end(plan, replicas, batch, console)
    console.print(
        f"[bold]raw chain[/bold]: {flow.hops} plain aiokafka consume→produce processes "
        f"(the {shape} flow's hops), same broker"
    )
    raw = raw_chain(flow.hops, plan.chain_count)
    skeletons = {}
    for name in dict.fromkeys((shape, "new", "old") if plan.both_skeletons else (shape,)):
        model = SHAPES[name]
        console.print(
            f"[bold]skeleton ({name} flow)[/bold]: {sum(model.envelopes.values())} envelopes, "
            f"{model.hops} hops, {model.bytes_per_declaration:,} B a declaration"
            f"{', internal topics framed' if model.frame else ''}; plain aiokafka, no database, "
            "validation or HTTP, same broker"
        )
        skeletons[name] = skeleton(plan.skeleton_count, name)
    figures.update(
        {
            "raw_chain": raw,
            "ratio": figures["e2e_throughput"] / raw if raw else 0.0,
            "skeleton": skeletons,
            "shape": shape,
            "hops": flow.hops,
        }
    )
    print_tables(console, figures)
    return figures
