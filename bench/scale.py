"""Replicas on PostgreSQL: 1, 2 and 4 replicas of every service, throughput and serial fraction,
and a Universal Scalability Law fit projecting 8, 16 and 32.

Each run starts a throwaway PostgreSQL (tests/postgres.py) and, per replica count N, a fresh
system (`singlewindow up --replicas <every service>=N`, one database a service, N partitions
at least), warms it, then keeps `--clients` happy export 0110 declarations in flight for `--duration`
seconds (the load tool's closed model: each client submits its next once its last completed)
and reads the completion rate: the most the system completes, without a growing backlog.

The serial fraction is measured two ways while the load runs:
- lock waits: PostgreSQL's own view (pg_stat_activity sampled every 20 ms): of the backends
  seen running a statement of a service, the share waiting on a lock: a row or table lock
  (`Lock`) or an internal one such as the WAL's (`LWLock`), where commits queue;
- conflicts: the time of batch attempts a conflict rolled back (sw_conflict_seconds_total)
  over the time of all batches (sw_batch_seconds_sum), from every replica's /metrics.
Their sum is the time a declaration's work spends waiting or redone, over the work: the σ of
the USL, which alone (κ = 0) projects N replicas on machines with room for them.

The fit of throughput itself says more about this machine than about the design: on two
cores, N replicas of five services share the same two cores with the broker and PostgreSQL,
so throughput cannot grow with N here; the fitted σ and κ then mostly measure CPU shortage.

    .venv/bin/python -m bench.scale [--duration 20] [--clients 48] [--replicas 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from services.common.settings import SERVICES
from singlewindow.spawn import Spawned, spawn_system
from tests.e2e.scrape import scrape, total
from tests.postgres import USER, PostgresServer, postgres_server
from tests.support import wait_for

BIN = str(Path(sys.executable).parent / "singlewindow")
PROJECT = (8, 16, 32)


@dataclass
class Run:
    """What one replica count gave."""

    replicas: int
    throughput: float  # completed declarations a second
    completed: int
    lock_share: float  # share of active-backend samples waiting on a lock
    conflict_share: float  # conflict-rolled-back batch time / all batch time
    active_samples: int  # backends seen running a statement, summed over the samples
    conflicts: int  # messages set aside by a conflict (sw_conflicts_total)

    @property
    def serial(self) -> float:
        return self.lock_share + self.conflict_share

    @property
    def serial_high(self) -> float:
        """The serial fraction's 95% upper bound: the lock share is a sampled proportion."""
        return wilson_high(self.lock_share, self.active_samples) + self.conflict_share


def wilson_high(share: float, n: int, z: float = 1.96) -> float:
    """Upper end of the Wilson score interval of a proportion seen in `n` samples."""
    if n == 0:
        return 1.0
    centre = share + z * z / (2 * n)
    spread = z * (share * (1 - share) / n + z * z / (4 * n * n)) ** 0.5
    return (centre + spread) / (1 + z * z / n)


def load(system: Spawned, clients: int, duration_s: int, out: Path) -> dict[str, Any]:
    """`singlewindow load` (closed model: `clients` declarations in flight) against the first
    gateway; its JSON report."""
    subprocess.run(
        [
            *(BIN, "load", "--model", "closed", "--clients", str(clients)),
            *("--duration", str(duration_s)),
            *("--timeout", "90", "--mix", "export/0110/happy=1", "--out", str(out)),
            *("--gateway", system.url("gateway"), "--kafka", system.broker),
        ],
        capture_output=True,
        check=True,
    )
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


@contextmanager
def lock_sampler(server: PostgresServer, prefix: str) -> Iterator[list[tuple[int, int]]]:
    """Samples (backends waiting on a lock, backends active) of the run's databases."""
    samples: list[tuple[int, int]] = []
    stop = threading.Event()
    sql = (
        "SELECT count(*) FILTER (WHERE wait_event_type IN ('Lock', 'LWLock')), count(*) "
        "FROM pg_stat_activity WHERE state = 'active' AND datname LIKE %s "
        "AND pid <> pg_backend_pid()"
    )

    def sample() -> None:
        with psycopg.connect(
            f"host=127.0.0.1 port={server.port} user={USER} dbname=postgres", autocommit=True
        ) as conn:
            while not stop.wait(0.02):  # the sampling period
                row = conn.execute(sql, (f"{prefix}_%",)).fetchone()
                if row is not None and row[1]:
                    samples.append((int(row[0]), int(row[1])))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def replica_urls(system: Spawned, replicas: int) -> list[str]:
    """Every replica of every service."""
    urls: list[str] = []
    for service in SERVICES:
        host, port = system.url(service).rsplit(":", 1)
        urls.extend(f"{host}:{int(port) + 100 * i}" for i in range(replicas))
    return urls


def every_replica_ready(urls: list[str]) -> bool:
    """Whether each replica answers /readyz (the supervisor starts them one after another)."""
    try:
        return all(httpx.get(f"{u}/readyz", timeout=5).status_code == 200 for u in urls)
    except httpx.HTTPError:
        return False


def batch_times(urls: list[str]) -> tuple[float, float, float]:
    """(conflict seconds, batch seconds, conflicts) summed over the replicas."""
    conflict = batches = conflicts = 0.0
    for url in urls:
        samples = scrape(url)
        conflict += total(samples, "sw_conflict_seconds_total")
        batches += total(samples, "sw_batch_seconds_sum")
        conflicts += total(samples, "sw_conflicts_total")
    return conflict, batches, conflicts


def measure(server: PostgresServer, replicas: int, clients: int, duration_s: int) -> Run:
    """One system with `replicas` of every service, loaded for `duration_s`."""
    prefix = f"scale{replicas}"
    extra = {
        "SW_DATABASE_URL": server.service_template(prefix),
        "SW_PARTITIONS": str(max(4, replicas)),
        "SW_LOG_LEVEL": "WARNING",
    }
    spec = ",".join(f"{s}={replicas}" for s in SERVICES)
    with tempfile.TemporaryDirectory() as tmp:
        with spawn_system(Path(tmp) / "system", extra_env=extra, args=("--replicas", spec)) as sut:
            urls = replica_urls(sut, replicas)
            wait_for(lambda: every_replica_ready(urls), timeout_s=180, what="every replica")
            load(sut, 5, 2, Path(tmp) / "warm-up")
            before = batch_times(urls)
            with lock_sampler(server, prefix) as samples:
                report = load(sut, clients, duration_s, Path(tmp) / "load")
            after = batch_times(urls)
    waiting = sum(w for w, _ in samples)
    active = sum(a for _, a in samples)
    conflict, batches, conflicts = (a - b for a, b in zip(after, before, strict=True))
    return Run(
        replicas=replicas,
        throughput=float(report["completion_rate"]),
        completed=int(report["outcomes"].get("completed", 0)),
        lock_share=waiting / active if active else 0.0,
        conflict_share=conflict / batches if batches else 0.0,
        active_samples=active,
        conflicts=int(conflicts),
    )


def usl(n: float, lam: float, sigma: float, kappa: float) -> float:
    """Throughput of n replicas under the Universal Scalability Law."""
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def fit_usl(runs: list[Run]) -> tuple[float, float, float]:
    """λ, σ, κ (both ≥ 0) by least squares on N·λ/X(N) − 1 = σ(N−1) + κN(N−1), λ = X(1)."""
    lam = next(r.throughput for r in runs if r.replicas == 1)
    points = [
        (r.replicas - 1, r.replicas * (r.replicas - 1), r.replicas * lam / r.throughput - 1)
        for r in runs
        if r.replicas > 1
    ]
    saa = sum(a * a for a, _, _ in points)
    sbb = sum(b * b for _, b, _ in points)
    sab = sum(a * b for a, b, _ in points)
    say = sum(a * y for a, _, y in points)
    sby = sum(b * y for _, b, y in points)
    det = saa * sbb - sab * sab
    if det > 0:
        sigma, kappa = (say * sbb - sby * sab) / det, (sby * saa - say * sab) / det
        if sigma >= 0 and kappa >= 0:
            return lam, sigma, kappa
    # The best fit lies on a bound: one of the two terms alone.
    only_sigma, only_kappa = max(0.0, say / saa), max(0.0, sby / sbb)

    def err(sigma: float, kappa: float) -> float:
        return sum((sigma * a + kappa * b - y) ** 2 for a, b, y in points)

    if err(only_sigma, 0.0) <= err(0.0, only_kappa):
        return lam, only_sigma, 0.0
    return lam, 0.0, only_kappa


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per run")
    parser.add_argument("--clients", type=int, default=48, help="declarations in flight")
    parser.add_argument("--replicas", default="1,2,4", help="replica counts to run")
    args = parser.parse_args()
    counts = [int(n) for n in args.replicas.split(",")]
    started = time.monotonic()
    runs: list[Run] = []
    with postgres_server() as server:
        for n in counts:
            run = measure(server, n, args.clients, args.duration)
            runs.append(run)
            print(
                f"{n} replica(s) of every service: {run.throughput:.1f} declarations/s "
                f"({run.completed} completed); lock waits {run.lock_share:.2%} of "
                f"{run.active_samples} active-backend samples "
                f"(95% ≤ {wilson_high(run.lock_share, run.active_samples):.2%}), "
                f"{run.conflicts} conflicts "
                f"taking {run.conflict_share:.2%} of batch time: "
                f"serial fraction {run.serial:.2%}",
                flush=True,
            )
    print(f"runs took {time.monotonic() - started:.0f} s")
    sigma = max(r.serial for r in runs)
    high = max(r.serial_high for r in runs)
    print(f"\nmeasured serial fraction σ (the worst run): {sigma:.2%}, 95% upper bound {high:.2%}")
    print("| replicas | σ measured, κ = 0: × linear | σ at its upper bound | fit to this machine |")
    print("|---:|---:|---:|---:|")
    if 1 in counts and len(runs) > 1:
        lam, fit_sigma, fit_kappa = fit_usl(runs)
    else:
        lam, fit_sigma, fit_kappa = 0.0, 0.0, 0.0
    for n in (*counts, *PROJECT):
        fitted = f"{usl(n, lam, fit_sigma, fit_kappa):.1f}/s" if lam else "n/a"
        at, worst = usl(n, 1.0, sigma, 0.0) / n, usl(n, 1.0, high, 0.0) / n
        print(f"| {n} | {at:.2f} | {worst:.2f} | {fitted} |")
    if lam:
        print(f"\nUSL fit of throughput: λ = {lam:.1f}/s, σ = {fit_sigma:.3f}, κ = {fit_kappa:.4f}")


if __name__ == "__main__":
    main()
