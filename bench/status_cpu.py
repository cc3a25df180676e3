"""The gateway's CPU per declaration, its status changes' webhooks and dashboard included, in
one process: the former path (two consumers of its own `sw.declarations.status`) against this
one (webhooks recorded in the transaction of the change, the dashboard told after commit).

    .venv/bin/python bench/status_cpu.py --compare /work/wt/base [--endpoints 0] [--kafka]
    .venv/bin/python bench/status_cpu.py --parts     # this checkout: what the recorder costs

The workflow is bench/saga_cpu.py's: N happy export 0110 declarations, customs, forex and tax
answering through their own handlers (untimed); timed, the gateway's declaration transactions
and its consumption of the agencies' events, so all six status messages a declaration are in.
The enterprise has `--endpoints` webhook endpoints (1 by default; 0 is the load bench's case).

- A checkout without `StatusIntake` (this one): the recorder is the gateway Database's tap and
  the dashboard's hub is told of each commit, both inside the timed gateway work.
- A checkout with it (the former path): after the workflow, the gateway's status messages
  are taken as its two consumers took them, timed as the gateway's: decoded and handled by
  `StatusIntake` in batches of `--batch` (a transaction each), and each dispatched to the hub
  from its bytes.

Neither includes the Kafka client's work of fetching those records, which the former path
did twice a status message. `--kafka` measures it on a fresh embedded broker: the CPU a record
of a plain aiokafka consumer following the topic live (no group, every partition assigned, as
the hub's) while the status records of N declarations are produced at 600 a second, and the
broker's CPU serving it (each: with the follower minus without).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from saga_cpu import ENTERPRISE, SEED, Extras, Tally, compare, rounds, workflow  # this folder
from sqlalchemy import Connection

from gateway.dashboard.stream import StatusHub
from gateway.webhooks import recorder as webhooks
from gateway.webhooks import store
from gateway.webhooks.sender import WebhookConfig
from schemas.envelope import decode
from schemas.topics import STATUS
from services.common.changes import OutRow
from services.common.database import Database
from services.common.runtime import Runtime
from services.common.settings import Settings
from singlewindow.broker import broker_command, wait_for_port
from singlewindow.spawn import free_port_block

ENDPOINTS = "SW_BENCH_ENDPOINTS"  # how --endpoints reaches the rounds' processes


class Woken:
    """The sender the former intake wakes after a commit."""

    def wake(self) -> None:
        pass


class StatusWork(Extras):
    """The status messages' webhooks and dashboard, the way this checkout does them."""

    def __init__(self, endpoints: int, *, batch: int = 50, collect: bool = False) -> None:
        self.endpoints = endpoints
        self.batch = batch
        self.hub = StatusHub("unused:9092")
        self.former = hasattr(webhooks, "StatusIntake")
        self.collect = collect or self.former
        self.statuses: list[OutRow] = []

    async def prepare(self, db: Database) -> None:
        def add(conn: Connection) -> None:
            for n in range(self.endpoints):
                store.add_endpoint(
                    conn,
                    id=f"we_{n}",
                    enterprise_id=ENTERPRISE,
                    url=f"http://127.0.0.1:9/{n}",
                    secret=f"whsec_{n}",
                    enabled_events=["*"],
                    hardening=False,
                    description=None,
                )

        await db.write(add)
        if not self.former:
            db.tap = webhooks.StatusRecorder(WebhookConfig(), seed=SEED)

    def committed(self, rows: Sequence[OutRow]) -> None:
        if self.collect:
            self.statuses.extend(r for r in rows if r.topic == STATUS)
        if not self.former:
            self.hub.committed(rows)

    async def finish(self, db: Database, tally: Tally) -> None:
        if not self.former:
            return
        runtime = Runtime(service="gateway", settings=Settings(), handlers={}, topics=[], db=db)
        intake = getattr(webhooks, "StatusIntake")(runtime, WebhookConfig(), Woken())  # noqa: B009
        for i in range(0, len(self.statuses), self.batch):
            rows = self.statuses[i : i + self.batch]
            started = time.process_time()
            envelopes = [decode(r.value) for r in rows]  # the intake's consumer loop
            await intake.process(envelopes, received={r.message_id: r.value for r in rows})
            for row in rows:  # the hub's consumer
                self.hub.dispatch(row.value)
            tally.time("status", started, len(rows))


async def one_round(n: int, batch: int) -> dict[str, float]:
    """Declare n, let the agencies answer; the gateway's CPU, its status work included."""
    work = StatusWork(int(os.environ.get(ENDPOINTS, "1")), batch=batch)
    tally = await workflow(n, batch, timed=["gateway"], extras=work, timed_declare=True)
    return {
        "declarations": n,
        "cpu_s": sum(tally.cpu.get(k, 0.0) for k in ("gateway", "declare", "status")),
        "status_s": tally.cpu.get("status", 0.0),
    }


async def follow_cost(
    values: list[OutRow], bootstrap: str, broker: int, rate: float, topic: str
) -> tuple[float, float]:
    """CPU seconds a record of a consumer following the status topic live (no group, every
    partition assigned, from the end, as the hub did), and of the broker serving it.

    The records are produced at `rate` a second twice, without and then with the follower;
    the differences in this process's CPU and the broker's are the follower's cost.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()

    async def produce() -> tuple[float, int]:
        cpu, ticks, t0 = time.process_time(), _ticks(broker), time.monotonic()
        for i, row in enumerate(values):
            ahead = t0 + i / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)  # the arrival schedule
            await producer.send(topic, row.value, key=row.key.encode())
        await producer.flush()
        return time.process_time() - cpu, _ticks(broker) - ticks

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50
    )
    await consumer.start()
    try:
        alone = await produce()
        parts = [TopicPartition(topic, p) for p in range(2)]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:
            await consumer.position(tp)
        got = 0

        async def follow() -> None:
            nonlocal got
            while got < len(values):
                batches = await consumer.getmany(timeout_ms=200, max_records=2000)
                got += sum(len(records) for records in batches.values())

        follower = asyncio.create_task(follow())
        followed = await produce()
        await asyncio.wait_for(follower, 30)
    finally:
        await consumer.stop()
        await producer.stop()
    client = followed[0] - alone[0]
    served = (followed[1] - alone[1]) / os.sysconf("SC_CLK_TCK")
    return client / len(values), served / len(values)


def _ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def kafka(n: int, batch: int, rate: float = 600.0, repeats: int = 3) -> None:
    """Print the Kafka read cost of the status records of n declarations, produced at `rate`
    records a second (600: 100 declarations a second)."""
    work = StatusWork(0, collect=True)
    asyncio.run(workflow(n, batch, timed=[], extras=work))
    port = free_port_block(1)
    broker = subprocess.Popen(
        broker_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        if not wait_for_port("127.0.0.1", port, 15):
            raise SystemExit("the broker did not start")
        costs = [
            asyncio.run(
                follow_cost(work.statuses, f"127.0.0.1:{port}", broker.pid, rate, f"status.{k}")
            )
            for k in range(repeats)
        ]
        client = statistics.median(c for c, _ in costs)
        served = statistics.median(s for _, s in costs)
    finally:
        broker.terminate()
        broker.wait(10)
    per = len(work.statuses) / n
    print(
        f"Kafka, following {len(work.statuses)} status records ({per:.0f} a declaration) "
        f"produced at {rate:.0f}/s, median of {repeats}: "
        f"consumer {client * 1e6:.0f} µs a record, broker {served * 1e6:.0f} µs a record; "
        f"the former path read each twice: {2 * per * (client + served) * 1e3:.2f} ms a "
        "declaration (consumer and broker)"
    )


def summary(name: str, results: list[dict[str, float]]) -> float:
    per = [r["cpu_s"] / r["declarations"] * 1e3 for r in results]
    status = [r["status_s"] / r["declarations"] * 1e3 for r in results]
    print(
        f"{name:22s} gateway CPU a declaration: median {statistics.median(per):.3f} ms "
        f"(of which the status consumers' {statistics.median(status):.3f}; "
        f"rounds: {' '.join(f'{x:.3f}' for x in per)})"
    )
    return statistics.median(per)


def parts(n: int, batch: int, rounds: int) -> None:
    """This checkout alone, in this process, rounds interleaved: the gateway without the
    recorder and the hub, with them and no endpoint, with them and one endpoint."""
    kinds: dict[str, list[float]] = {"neither": [], "0 endpoints": [], "1 endpoint": []}
    for _ in range(rounds):
        for name, found in kinds.items():
            extras = Extras() if name == "neither" else StatusWork(int(name[0]))
            tally = asyncio.run(
                workflow(n, batch, timed=["gateway"], extras=extras, timed_declare=True)
            )
            found.append((tally.cpu["gateway"] + tally.cpu["declare"]) / n * 1e3)
    for name, found in kinds.items():
        print(
            f"recorder and hub, {name:11s}: gateway CPU a declaration: median "
            f"{statistics.median(found):.3f} ms (rounds: {' '.join(f'{x:.3f}' for x in found)})"
        )


def main() -> None:
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--endpoints", type=int, default=1)
    own.add_argument("--kafka", action="store_true")
    own.add_argument("--parts", action="store_true", help="this checkout's parts, in process")
    mine, rest = own.parse_known_args()
    os.environ[ENDPOINTS] = str(mine.endpoints)
    sys.argv[1:] = rest
    if mine.parts:
        known = argparse.ArgumentParser()
        known.add_argument("--n", type=int, default=200)
        known.add_argument("--batch", type=int, default=50)
        known.add_argument("--rounds", type=int, default=3)
        opts = known.parse_args()
        parts(opts.n, opts.batch, opts.rounds)
        return
    args, ours, theirs = rounds(__doc__, "events", __file__, one_round)
    print(f"webhook endpoints of the enterprise: {mine.endpoints}")
    compare(args, ours, theirs, summary)
    if mine.kafka:
        kafka(args.n, args.batch)


if __name__ == "__main__":
    main()
