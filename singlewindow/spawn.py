"""Start a fresh embedded system in a subprocess (for `load --spawn`, `bench` and the tests)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.common.generations import EMBEDDED_PERIOD_S, Generations
from services.common.settings import SERVICES


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port_block(size: int) -> int:
    """A base port with `size` consecutive free ports after it, below the ephemeral range.

    A listening port inside the ephemeral range can be taken, while its service restarts, by
    any outgoing connection's local port (even a connection to itself: a client retrying a
    dead port on loopback connects to its own socket), and the restarted service then fails
    to bind for as long as that connection lives.
    """
    low = 10000
    high = _ephemeral_range()[0] - size
    for _ in range(500):
        base = random.randrange(low, high)
        try:
            for port in range(base, base + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no block of free ports")


@dataclass
class Spawned:
    """A running system: its process, ports and folder."""

    proc: subprocess.Popen[bytes]
    port_base: int
    broker: str
    data_dir: Path
    generation_s: float = EMBEDDED_PERIOD_S  # its topics' generation period (0: plain names)

    def topic(self, base: str) -> str:
        """Where a record of topic `base` goes now (its live generation, if topics rotate)."""
        return Generations(self.generation_s).live(base)

    def url(self, service: str) -> str:
        """The base URL of a service."""
        return f"http://127.0.0.1:{self.port_base + SERVICES.index(service)}"

    def ready(self) -> bool:
        """Whether every service answers /readyz with 200."""
        for service in SERVICES:
            try:
                if httpx.get(self.url(service) + "/readyz", timeout=2).status_code != 200:
                    return False
            except httpx.HTTPError:
                return False
        return True


@contextmanager
def spawn_system(
    data_dir: Path,
    *,
    extra_env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    ready_timeout_s: float = 120,
) -> Iterator[Spawned]:
    """`singlewindow up` on free ports in `data_dir`; stopped with SIGINT (then SIGKILL) on exit."""
    base = free_port_block(6)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SW_")}
    env.update(
        SW_PORT_BASE=str(base),
        SW_BROKER_PORT=str(base + 5),
        SW_DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",
        **(extra_env or {}),
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    out = (data_dir / "up.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "singlewindow", "up", *args],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    period = float(env.get("SW_TOPIC_GENERATION_S", EMBEDDED_PERIOD_S))
    system = Spawned(proc, base, f"127.0.0.1:{base + 5}", data_dir, period)
    try:
        deadline = time.monotonic() + ready_timeout_s
        while not system.ready():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"singlewindow up exited with {proc.returncode}; see {data_dir / 'up.log'}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"not ready after {ready_timeout_s:.0f}s; see {data_dir / 'up.log'}"
                )
            time.sleep(0.25)  # polling readiness with a deadline
        yield system
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        out.close()
