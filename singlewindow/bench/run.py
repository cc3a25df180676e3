"""The bench: sustained end-to-end throughput (single POSTs and batches) and its costs, the raw
chain and the flow's skeleton beside it, and their ratios."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from singlewindow.bench.report import print_tables
from singlewindow.bench.search import (
    KEEP_UP,
    P99_LIMIT_MS,
    Measured,
    best,
    bus_of_step,
    cpu_figures,
    idle_cpu,
    run_step,
    sustained_throughput,
)
from singlewindow.bench.skeleton import AGENCIES as SKELETON_AGENCIES
from singlewindow.bench.skeleton import SHAPES
from singlewindow.broker import broker_command, wait_for_port
from singlewindow.load.runner import LoadConfig
from singlewindow.resources.gauge import Gauge, footprint
from singlewindow.spawn import free_port_block, spawn_system
from singlewindow.supervisor import die_with_parent


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


def end_to_end(plan: BenchPlan, replicas: str, batch: int, console: Console) -> dict[str, Any]:
    """A fresh system: idle CPU, the single and batch searches, and what they cost it."""
    console.print(
        f"[bold]end to end[/bold]: export 0110, constant rate steps of {plan.duration_s:.0f} s, "
        f"sustained = ≥{KEEP_UP:.0%} completed, no errors, p99 < {P99_LIMIT_MS:.0f} ms; "
        "topics do not turn (SW_TOPIC_GENERATION_S=0: a turn's pause would fail a random "
        "step; `load --soak` measures turns)"
    )
    with tempfile.TemporaryDirectory(prefix="sw-bench-") as tmp:
        args = ("--replicas", replicas) if replicas else ()
        plain = {"SW_TOPIC_GENERATION_S": "0"}
        with spawn_system(Path(tmp), args=args, extra_env=plain) as system:
            gauge = Gauge.of_supervisor(system.proc.pid, Path(tmp))
            config = LoadConfig(
                system.url("gateway"),
                "sk_test_singlewindow_demo",
                system.broker,
                completion_timeout_s=10,
            )
            run_step(config, 10, 2.0, None)  # warm-up: connections, caches, consumer groups
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
                "bus": {k: bus_of_step(system.broker, m) for k, m in chosen.items()},
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
