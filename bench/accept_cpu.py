"""The gateway's CPU per accepted submission: this tree's gateway against another checkout's.

    .venv/bin/python bench/accept_cpu.py --base /work/wt/base [--requests 2000] [--rounds 3]
        [--concurrency 32] [--idempotency]

Each tree's gateway runs as `singlewindow.serve gateway` from its own folder and .venv, with
its own embedded broker and a fresh SQLite folder; no agency runs, so the gateway does what it
does for a submission (HTTP, auth, validation, the group commit, the relay publishing the
commands) and nothing else. This process sends N `POST /v1/declarations` with the demo API key
through the load tool's lean client to one gateway, then to the other, rounds interleaved, and
prints the CPU the *server process* spent per request (utime + stime of /proc/<pid>/stat,
every thread, from before the first request until the process is idle again after the last).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common import http1 as http
from services.common.settings import Settings
from singlewindow.broker import broker_command, wait_for_port
from singlewindow.load.plan import MixEntry, body_for
from singlewindow.spawn import free_port_block

ENTRY = MixEntry("export", "0110", "happy", 1.0)
TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
HERE = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of the process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return float(int(fields[11]) + int(fields[12])) * TICK_S  # fields 14 and 15 of stat(5)


def settle(pid: int, quiet_s: float = 0.3, timeout_s: float = 10) -> None:
    """Wait until the process spends at most one clock tick in `quiet_s` (the relay done)."""
    deadline = time.monotonic() + timeout_s
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)  # sampling the process's CPU: there is no event to wait for
        now = cpu_seconds(pid)
        if now - before <= TICK_S:
            return
        before = now


@dataclass
class Gateway:
    """One tree's gateway and its broker."""

    name: str
    tree: Path
    port: int
    broker: subprocess.Popen[bytes]
    server: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        for proc in (self.server, self.broker):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def start(name: str, tree: Path, data: Path) -> Gateway:
    """The tree's gateway on free ports, its broker beside it, ready to accept."""
    base = free_port_block(2)
    port, broker_port = base, base + 1
    data.mkdir(parents=True)
    log = (data / "server.log").open("wb")
    broker = subprocess.Popen(
        broker_command(broker_port), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    if not wait_for_port("127.0.0.1", broker_port, 20):
        broker.kill()
        raise SystemExit(f"{name}: the broker did not start")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SW_", "VIRTUAL_ENV"))}
    env.update(
        SW_KAFKA_BOOTSTRAP=f"127.0.0.1:{broker_port}",
        SW_DATA_DIR=str(data),
        SW_STEP_DEADLINE_S="3600",  # no agency answers: no command is re-sent meanwhile
        SW_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    python = tree / ".venv" / "bin" / "python"
    topics = "import asyncio; from services.common.bus import ensure_topics; "
    topics += (
        "from services.common.settings import Settings; asyncio.run(ensure_topics(Settings()))"
    )
    subprocess.run([python, "-c", topics], cwd=tree, env=env, check=True)
    server = subprocess.Popen(
        [python, "-m", "singlewindow.serve", "gateway", "--port", str(port)],
        cwd=tree,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    gateway = Gateway(name, tree, port, broker, server)
    deadline = time.monotonic() + 60
    while not ready(gateway.url):
        if server.poll() is not None or time.monotonic() > deadline:
            gateway.stop()
            raise SystemExit(f"{name}: the gateway did not start; see {data / 'server.log'}")
        time.sleep(0.2)  # polling readiness with a deadline
    return gateway


def ready(url: str) -> bool:
    async def probe() -> bool:
        pool = http.Pool(url, connections=1, timeout=2)
        try:
            return (await pool.request("GET", "/readyz")).status_code == 200
        except (http.HTTPError, OSError):
            return False
        finally:
            await pool.aclose()

    return asyncio.run(probe())


async def send_all(
    url: str, api_key: str, bodies: list[dict[str, Any]], concurrency: int, idempotency: bool
) -> None:
    pool = http.Pool(
        url, connections=concurrency, timeout=60, headers={"Authorization": f"Bearer {api_key}"}
    )
    it = iter(bodies)

    async def sender() -> None:
        for body in it:
            extra = {"Idempotency-Key": str(uuid.uuid4())} if idempotency else None
            resp = await pool.post_json("/v1/declarations", body, extra)
            assert resp.status_code == 202, (resp.status_code, resp.content[:300])

    try:
        await asyncio.gather(*(sender() for _ in range(concurrency)))
    finally:
        await pool.aclose()


def measure(gateway: Gateway, api_key: str, round_: int, args: argparse.Namespace) -> float:
    """The server's CPU seconds per request over one round of `args.requests` submissions."""
    tag = f"{gateway.name}-{round_}"
    warm = [body_for(ENTRY, f"warm-{tag}-{i}") for i in range(args.concurrency * 4)]
    asyncio.run(send_all(gateway.url, api_key, warm, args.concurrency, args.idempotency))
    bodies = [body_for(ENTRY, f"cpu-{tag}-{i}") for i in range(args.requests)]
    settle(gateway.server.pid)
    before = cpu_seconds(gateway.server.pid)
    asyncio.run(send_all(gateway.url, api_key, bodies, args.concurrency, args.idempotency))
    settle(gateway.server.pid)
    return (cpu_seconds(gateway.server.pid) - before) / int(args.requests)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, required=True, help="the other checkout (its .venv)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idempotency", action="store_true", help="an Idempotency-Key each")
    args = parser.parse_args()
    api_key = Settings().demo_api_key
    with tempfile.TemporaryDirectory() as tmp:
        gateways = []
        try:
            for name, tree in (("base", args.base.resolve()), ("this", HERE)):
                gateways.append(start(name, tree, Path(tmp) / name))
            results: dict[str, list[float]] = {g.name: [] for g in gateways}
            for round_ in range(args.rounds):
                for gateway in gateways if round_ % 2 == 0 else reversed(gateways):
                    results[gateway.name].append(measure(gateway, api_key, round_, args))
        finally:
            for gateway in gateways:
                gateway.stop()
    print(
        f"{args.requests} POST /v1/declarations per round, {args.concurrency} in flight, "
        f"{args.rounds} rounds interleaved"
        + (", an Idempotency-Key each" if args.idempotency else "")
    )
    for name, values in results.items():
        rounds = " ".join(f"{v * 1000:.3f}" for v in values)
        print(
            f"{name:5} gateway CPU per request: median {statistics.median(values) * 1000:.3f} ms"
            f"  (rounds: {rounds})"
        )
    ratio = statistics.median(results["base"]) / statistics.median(results["this"])
    print(f"ratio base / this: {ratio:.2f}×")


if __name__ == "__main__":
    main()
