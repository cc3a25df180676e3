"""The bench: sustained end-to-end throughput, the raw chain beside it, and their ratio."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from singlewindow.bench.skeleton import AGENCIES as SKELETON_AGENCIES
from singlewindow.broker import broker_command, wait_for_port
from singlewindow.load.plan import MixEntry, Profile
from singlewindow.load.runner import LoadConfig, LoadRun
from singlewindow.loop import run as run_loop
from singlewindow.spawn import free_port_block, spawn_system
from singlewindow.supervisor import die_with_parent

# Consume→produce handlings one export declaration takes: customs 3 (file, release, close),
# forex 1, tax 1, gateway 5 (one per agency answer).
HOPS = 10
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


def skeleton(count: int) -> float:
    """Declarations a second through the skeleton (singlewindow/bench/skeleton.py)."""
    return _on_fresh_broker(
        "skeleton",
        ("topics",),
        [("serve", "--as", role) for role in ("gateway", *SKELETON_AGENCIES)],
        ("drive", "--count", str(count)),
    )


def _trial(config: LoadConfig, rate: float, duration_s: float) -> Trial:
    run = LoadRun(config)
    run_loop(run.run_open(Profile.parse(str(rate), duration_s).send_times(), EXPORT_HAPPY))
    completed = run.recorder.completion.get_total_count()
    p99 = run.recorder.completion.get_value_at_percentile(99) / 1000 if completed else float("inf")
    return Trial(
        rate,
        run.sent_count,
        completed,
        completed / duration_s,
        p99,
        sum(run.recorder.errors.values()),
    )


def sustained_throughput(
    config: LoadConfig,
    rates: Sequence[float],
    duration_s: float,
    bisect_steps: int,
    console: Console,
) -> tuple[float, list[Trial]]:
    """Step the arrival rate up until a step fails, then bisect between the last good and bad."""
    trials: list[Trial] = []
    good, bad = 0.0, None
    for rate in rates:
        trial = _trial(config, rate, duration_s)
        trials.append(trial)
        console.print(
            f"  {rate:>6.0f}/s: completed {trial.completed}/{trial.sent}, "
            f"p99 {trial.p99_ms:.0f} ms, errors {trial.errors} → "
            f"{'sustained' if trial.sustained else 'not sustained'}"
        )
        if not trial.sustained:
            bad = rate
            break
        good = rate
    for _ in range(bisect_steps if bad else 0):
        assert bad is not None
        rate = round((good + bad) / 2)
        if rate in (good, bad):
            break
        trial = _trial(config, rate, duration_s)
        trials.append(trial)
        console.print(
            f"  {rate:>6.0f}/s: completed {trial.completed}/{trial.sent}, "
            f"p99 {trial.p99_ms:.0f} ms → {'sustained' if trial.sustained else 'not sustained'}"
        )
        if trial.sustained:
            good = rate
        else:
            bad = rate
    return good, trials


def bench(*, quick: bool, replicas: str, console: Console) -> dict[str, Any]:
    """Run both measurements side by side and return the figures."""
    rates = (
        [25, 50, 100, 200, 400, 800, 1600]
        if quick
        else [25, 50, 100, 200, 300, 400, 600, 800, 1200, 1600, 2400]
    )
    duration = 5.0 if quick else 15.0
    console.print(
        f"[bold]end to end[/bold]: export 0110, constant rate steps of {duration:.0f} s, "
        f"sustained = ≥{KEEP_UP:.0%} completed, no errors, p99 < {P99_LIMIT_MS:.0f} ms"
    )
    with tempfile.TemporaryDirectory(prefix="sw-bench-") as tmp:
        args = ("--replicas", replicas) if replicas else ()
        with spawn_system(Path(tmp), args=args) as system:
            config = LoadConfig(
                system.url("gateway"),
                "sk_test_singlewindow_demo",
                system.broker,
                completion_timeout_s=10,
            )
            _trial(config, 10, 2.0)  # warm-up: connections, caches, consumer groups
            e2e, trials = sustained_throughput(config, rates, duration, 2 if quick else 3, console)
    console.print(
        f"[bold]raw chain[/bold]: {HOPS} plain aiokafka consume→produce processes, same broker"
    )
    raw = raw_chain(HOPS, 20_000 if quick else 100_000)
    console.print(
        "[bold]skeleton[/bold]: a declaration's 16 messages through a gateway and four agencies "
        "of plain aiokafka, no database, validation or HTTP, same broker"
    )
    bare = skeleton(3_000 if quick else 20_000)
    table = Table(title="bench")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("sustained end-to-end declarations/s", f"{e2e:.0f}")
    table.add_row(f"raw chain of {HOPS} hops, messages/s", f"{raw:.0f}")
    table.add_row("ratio", f"{e2e / raw:.3f}" if raw else "n/a")
    table.add_row("skeleton, declarations/s (saturated)", f"{bare:.0f}")
    table.add_row("skeleton / raw chain", f"{bare / raw:.3f}" if raw else "n/a")
    table.add_row("end to end / skeleton", f"{e2e / bare:.3f}" if bare else "n/a")
    console.print(table)
    return {
        "e2e_throughput": e2e,
        "raw_chain": raw,
        "ratio": e2e / raw if raw else 0.0,
        "skeleton": bare,
        "hops": HOPS,
        "trials": [t.__dict__ for t in trials],
    }
