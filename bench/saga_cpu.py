"""The gateway's CPU per agency event: its saga consuming a happy export 0110, in one process.

N declarations are submitted as `POST /v1/declarations/batch` would (gateway/saga/declare.py, one
transaction per batch) into a real SQLite file. Customs, forex and tax answer every command
through their own Processors, handlers and shipped reference data (each on its own SQLite
file, untimed), and the gateway consumes their events in batches, as its consumer loop does:
decode the bytes, then `Processor.process` with the gateway's HANDLERS counted by
SagaMetrics. Only the gateway's decode + process is timed (`time.process_time`, every thread
of this process: the database thread too). An export 0110 in the `happy` scenario is five
events: customs accepted, released, closed; forex settled; tax refund paid.

    .venv/bin/python bench/saga_cpu.py                            # this checkout, 3 rounds
    .venv/bin/python bench/saga_cpu.py --compare /work/wt/base    # and another, interleaved

With `--compare`, every round runs in a fresh process: this checkout's interpreter, then the
other's (its .venv/bin/python, which imports its own code) on this same script.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.app import GATEWAY_TABLES
from gateway.core.config import GatewayConfig
from gateway.saga.declare import declare, intend
from gateway.saga.handlers import HANDLERS
from gateway.saga.observe import SagaMetrics
from schemas.api import DeclarationRequest
from schemas.envelope import decode
from schemas.samples import sample_declaration
from schemas.topics import AGENCIES, commands, events
from services.common.changes import Changes, OutRow
from services.common.database import Database
from services.common.db import create_tables_sync
from services.common.handling import Handler, Processor
from services.common.metrics import Metrics
from services.common.runtime import Runtime
from services.common.settings import Settings
from services.customs.handlers import HANDLERS as CUSTOMS
from services.customs.reference import load_reference as customs_reference
from services.forex.handlers import HANDLERS as FOREX
from services.forex.reference import load_reference as forex_reference
from services.tax.handlers import HANDLERS as TAX
from services.tax.reference import load_reference as tax_reference

ROOT = Path(__file__).resolve().parents[1]
ENTERPRISE = "ent_demo"
SEED = 20261122


async def processor(
    service: str, db: Database, handlers: dict[str, Handler], ref: Any
) -> Processor:
    await db.write(lambda conn: create_tables_sync(conn))
    return Processor(
        service=service,
        db=db,
        handlers=handlers,
        metrics=Metrics(service),
        run_seed=SEED,
        reference=ref,
    )


@dataclass
class Tally:
    """CPU seconds and messages consumed, by service: of the services timed only."""

    cpu: dict[str, float] = field(default_factory=dict)
    handled: dict[str, int] = field(default_factory=dict)
    published: dict[str, list[str]] = field(default_factory=dict)
    # Told of the rows each gateway transaction committed, in its timed part (as the
    # gateway's relay tells its watchers).
    watchers: list[Callable[[Sequence[OutRow]], None]] = field(default_factory=list)

    def time(self, service: str, started: float, handled: int) -> None:
        """Add the CPU since `started` (process_time) and `handled` messages to `service`."""
        self.cpu[service] = self.cpu.get(service, 0.0) + time.process_time() - started
        self.handled[service] = self.handled.get(service, 0) + handled

    async def consume(
        self, service: str, proc: Processor, chunk: Sequence[OutRow], *, timed: bool
    ) -> list[OutRow]:
        """One batch, as a consumer loop takes it: decode the bytes, process, commit.

        The outbox rows of the service's previous batch count as published by its relay:
        deleting them rides on this batch's transaction, as in ConsumerLoop.
        """
        started = time.process_time()
        envelopes = [decode(r.value) for r in chunk]
        rows = await proc.process(
            envelopes,
            published=self.published.get(service, []),
            received={e.id: r.value for e, r in zip(envelopes, chunk, strict=True)},
        )
        self.published[service] = [r.message_id for r in rows]
        if service == "gateway":
            for watch in self.watchers:
                watch(rows)
        if timed:
            self.time(service, started, len(chunk))
        return rows


class Extras:
    """What a bench adds to the gateway of the workflow (this one: nothing)."""

    async def prepare(self, db: Database) -> None:
        """Before the first declaration, once the gateway's tables exist."""

    def committed(self, rows: Sequence[OutRow]) -> None:
        """After each gateway transaction, in its timed part (as the relay's watchers)."""

    async def finish(self, db: Database, tally: Tally) -> None:
        """After the last event, before the databases close."""


async def workflow(
    n: int,
    batch: int,
    timed: Sequence[str],
    *,
    extras: Extras | None = None,
    timed_declare: bool = False,
) -> Tally:
    """Declare n happy export 0110s and run them to completion, timing the `timed` services
    (and the gateway's declaration transactions as the gateway's, if `timed_declare`).

    The gateway and the agencies take turns: every agency consumes all its commands in
    batches, then the gateway all their events, until no agency answers any more. Before each
    service's turn the garbage collector runs, so one's garbage is not collected in another's
    time.
    """
    config = GatewayConfig(step_deadline_s=30.0, step_max_attempts=5)
    extras = extras or Extras()
    tally = Tally(watchers=[extras.committed])
    with tempfile.TemporaryDirectory() as tmp:
        dbs = {s: Database(f"sqlite:///{Path(tmp) / s}.db") for s in ("gateway", *AGENCIES)}
        await dbs["gateway"].write(lambda conn: create_tables_sync(conn, GATEWAY_TABLES))
        await extras.prepare(dbs["gateway"])
        runtime = Runtime(service="gateway", settings=Settings(), handlers=HANDLERS, topics=[])
        gateway = Processor(
            service="gateway",
            db=dbs["gateway"],
            handlers=SagaMetrics(runtime).counted(HANDLERS),
            metrics=runtime.metrics,
            run_seed=SEED,
            reference=config,
            replay_replies=False,
        )
        agencies = {
            "customs": await processor("customs", dbs["customs"], CUSTOMS, customs_reference()),
            "forex": await processor("forex", dbs["forex"], FOREX, forex_reference()),
            "tax": await processor("tax", dbs["tax"], TAX, tax_reference()),
        }
        body = DeclarationRequest.model_validate(sample_declaration(scenario="happy"))
        sent: list[OutRow] = []
        for start in range(0, n, batch):  # POST /v1/declarations/batch, `batch` at a time
            intents = [
                intend(body, ENTERPRISE, config) for _ in range(start, min(n, start + batch))
            ]

            def unit(conn: Any, intents: Sequence[Any] = intents) -> list[OutRow]:
                changes = Changes()
                for intent in intents:
                    declare(conn, changes, enterprise_id=ENTERPRISE, intent=intent, config=config)
                return changes.apply(conn)

            gc.collect()
            started = time.process_time()
            declared = await dbs["gateway"].write(unit)
            for watch in tally.watchers:
                watch(declared)
            if timed_declare:
                tally.time("declare", started, len(intents))
            sent.extend(declared)
        while True:
            replies: list[OutRow] = []
            for agency, agent in agencies.items():  # the agencies answer their commands
                todo = [r for r in sent if r.topic == commands(agency)]
                gc.collect()
                for i in range(0, len(todo), batch):
                    rows = await tally.consume(
                        agency, agent, todo[i : i + batch], timed=agency in timed
                    )
                    replies.extend(r for r in rows if r.topic == events(agency))
            if not replies:
                break
            sent = []
            gc.collect()
            for i in range(0, len(replies), batch):  # the gateway consumes their events
                sent.extend(
                    await tally.consume(
                        "gateway", gateway, replies[i : i + batch], timed="gateway" in timed
                    )
                )
        await extras.finish(dbs["gateway"], tally)
        completed = await dbs["gateway"].read(
            lambda conn: conn.exec_driver_sql(
                "SELECT count(*) FROM records WHERE status = 'completed'"
            ).scalar_one()
        )
        for db in dbs.values():
            db.dispose()
    if completed != n:
        raise SystemExit(f"only {completed} of {n} declarations completed")
    return tally


async def one_round(n: int, batch: int) -> dict[str, float]:
    """Declare n, let the agencies answer, time the gateway's consumption of their events."""
    tally = await workflow(n, batch, timed=["gateway"])
    return {"events": tally.handled["gateway"], "declarations": n, "cpu_s": tally.cpu["gateway"]}


def summary(name: str, rounds: list[dict[str, float]]) -> float:
    per_event = [r["cpu_s"] / r["events"] * 1e6 for r in rounds]
    per_decl = [r["cpu_s"] / r["declarations"] * 1e3 for r in rounds]
    print(
        f"{name:10s} CPU per event: median {statistics.median(per_event):6.0f} µs   "
        f"per declaration: median {statistics.median(per_decl):5.2f} ms   "
        f"(rounds, µs/event: {' '.join(f'{x:.0f}' for x in per_event)})"
    )
    return statistics.median(per_event)


def child(python: str, cwd: Path, n: int, batch: int, script: str = __file__) -> dict[str, float]:
    """One round of `script` in a fresh process of a checkout's interpreter (which imports its
    own code)."""
    out = subprocess.run(
        [python, script, "--child", "--n", str(n), "--batch", str(batch)],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


Round = Callable[[int, int], Coroutine[Any, Any, dict[str, float]]]


def rounds(
    doc: str | None, what: str, script: str, one_round: Round
) -> tuple[argparse.Namespace, list[dict[str, float]], list[dict[str, float]]]:
    """Parse the command line and run the rounds: this checkout's and, with `--compare`, the
    other's, interleaved, each in a fresh process. A `--child` prints its round and exits."""
    parser = argparse.ArgumentParser(description=doc.split("\n", 1)[0] if doc else None)
    parser.add_argument("--n", type=int, default=500, help="declarations a round")
    parser.add_argument("--batch", type=int, default=50, help="messages a batch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="another checkout with its own .venv")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(one_round(args.n, args.batch))))
        raise SystemExit(0)
    print(
        f"{args.n} happy export 0110 declarations a round, {what} in batches of {args.batch}, "
        f"{args.rounds} rounds" + (" interleaved" if args.compare else "")
    )
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    for _ in range(args.rounds):
        if args.compare is None:
            ours.append(asyncio.run(one_round(args.n, args.batch)))
            continue
        ours.append(child(sys.executable, ROOT, args.n, args.batch, script))
        other = args.compare.resolve()
        theirs.append(child(str(other / ".venv/bin/python"), other, args.n, args.batch, script))
    return args, ours, theirs


def compare(
    args: argparse.Namespace,
    ours: list[dict[str, float]],
    theirs: list[dict[str, float]],
    summary: Callable[[str, list[dict[str, float]]], float],
) -> None:
    """Print the summary of each checkout's rounds and, with two, the ratio."""
    if theirs:
        base = summary(str(args.compare), theirs)
        mine = summary("this", ours)
        print(f"ratio other / this: {base / mine:.2f}×")
    else:
        summary("this", ours)


def main() -> None:
    args, ours, theirs = rounds(__doc__, "events", __file__, one_round)
    print(
        f"events a round: {ours[0]['events']:.0f} ({ours[0]['events'] / args.n:.0f} a declaration)"
    )
    compare(args, ours, theirs, summary)


if __name__ == "__main__":
    main()
