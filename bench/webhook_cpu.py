"""The webhook sender's own CPU per delivery, former path against new, in one run.

    .venv/bin/python bench/webhook_cpu.py [--deliveries 3000] [--rounds 3] [--profile old|new]

A uvicorn server in another process answers every POST with 200 and a small JSON body, as a
receiver would. For each drain this process queues N deliveries (declarations of 6 status
events each, one endpoint, bodies as the gateway makes them) in a fresh SQLite database and
drains them with the real WebhookSender, pass after pass (`dispatch`, then the workers it
started): claims, signing, POSTs, attempts recorded. Three paths, rounds interleaved:

- former: each POST through httpx as the sender made it before, and each attempt recorded
  with an UPDATE and an INSERT through SQLAlchemy Core (the former `record_attempt`);
- lean HTTP only: the lean HTTP/1.1 client, attempts still recorded a row at a time;
- new: the lean client, and a batch's attempts recorded in three statements.

It prints this process's CPU time (time.process_time(), the database thread included) per
delivery, the part spent inside database transactions (thread time), and deliveries per
second. `--profile` runs cProfile over one drain of the former or the new path instead
(the event loop's thread only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TypeVar
from unittest import mock

import httpx
from load_client_cpu import uvicorn_serving  # this folder is on sys.path when run
from sqlalchemy import Connection, func, select
from sqlalchemy import update as sql_update

from gateway.app import GATEWAY_TABLES
from gateway.webhooks import store
from gateway.webhooks.rules import event_body
from gateway.webhooks.sender import EXCERPT, WebhookConfig, WebhookSender, headers_of
from gateway.webhooks.store import AttemptResult, Due
from schemas.ids import uuid7
from schemas.messages import Figures, StatusChanged
from schemas.trade import Direction, TradeMode
from services.common.database import Database
from services.common.db import create_tables_sync

APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"received":true}'})
"""

T = TypeVar("T")
EVENTS = ("submitted", "in_progress", "in_progress", "in_progress", "in_progress", "completed")


class HttpxSender(WebhookSender):
    """The former path: the same sender, each POST made through an httpx.AsyncClient."""

    def start(self) -> None:
        super().start()
        self._httpx = httpx.AsyncClient(
            timeout=self.config.timeout_s,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=4 * self.parallel, max_keepalive_connections=64),
        )

    async def stop(self) -> None:
        await super().stop()
        await self._httpx.aclose()

    async def attempt(self, due: Due) -> AttemptResult:
        started = time.time()
        clock = time.perf_counter()

        def took() -> float:
            return round((time.perf_counter() - clock) * 1000, 1)

        try:
            async with asyncio.timeout(self.config.timeout_s):
                response = await self._httpx.post(
                    due.url, content=due.body, headers=headers_of(due, int(started))
                )
        except (TimeoutError, httpx.TimeoutException):
            return AttemptResult(started, took(), error=f"timeout after {self.config.timeout_s:g}s")
        except httpx.HTTPError as exc:
            return AttemptResult(started, took(), error=f"{type(exc).__name__}: {exc}"[:500])
        excerpt = response.text[:EXCERPT] if response.content else None
        error = None if response.is_success else f"HTTP {response.status_code}"
        return AttemptResult(started, took(), response.status_code, error, excerpt)


def former_record_attempts(
    conn: Connection, outcomes: Sequence[tuple[Due, AttemptResult, float | None]]
) -> list[str | None]:
    """How attempts were recorded before: an UPDATE and an INSERT through SQLAlchemy Core each."""
    statuses: list[str | None] = []
    for due, result, retry_at in outcomes:
        status = "succeeded" if result.ok else ("pending" if retry_at is not None else "failed")
        changed = conn.execute(
            sql_update(store.deliveries_t)
            .where(store.deliveries_t.c.id == due.delivery_id)
            .values(
                attempts=store.deliveries_t.c.attempts + 1,
                status=status,
                next_attempt_at=retry_at if status == "pending" else None,
                last_status_code=result.status_code,
                last_error=result.error,
                updated_at=time.time(),
            )
        )
        if changed.rowcount == 0:
            statuses.append(None)
            continue
        conn.execute(
            store.attempts_t.insert(),
            {
                "delivery_id": due.delivery_id,
                "number": due.attempt,
                "at": result.at,
                "status_code": result.status_code,
                "error": result.error,
                "duration_ms": result.duration_ms,
                "response_excerpt": result.response_excerpt,
            },
        )
        statuses.append(status)
    return statuses


class TimedDatabase(Database):
    """A Database that adds up the CPU time its worker thread spends in transactions."""

    cpu = 0.0

    async def write(self, fn: Callable[[Connection], T]) -> T:
        def timed(conn: Connection) -> T:
            start = time.thread_time()
            try:
                return fn(conn)
            finally:
                self.cpu += time.thread_time() - start

        return await super().write(timed)


async def queue(db: Database, url: str, deliveries: int) -> None:
    """One endpoint, and `deliveries` pending deliveries to it, 6 events a declaration."""
    now = time.time()
    status = StatusChanged(
        enterprise_id="ent_bench",
        direction=Direction.EXPORT,
        trade_mode=TradeMode.GENERAL,
        status="in_progress",
        state="customs_review",
        trigger="bench",
        steps={"customs": "reviewing", "inspection": "pending", "tax": "pending"},
        figures=Figures(declared_value=Decimal("12000.00"), currency="USD"),
    )
    events, rows = [], []
    for i in range(deliveries):
        declaration, event = f"d-{i // len(EVENTS)}", uuid7()
        kind = EVENTS[i % len(EVENTS)]
        body = event_body(event, "2026-11-23T12:00:00+00:00", declaration, status)
        events.append(
            {
                "id": event,
                "enterprise_id": "ent_bench",
                "declaration_id": declaration,
                "type": f"declaration.{kind}",
                "body": body,
                "created_at": now,
            }
        )
        rows.append(
            {
                "id": uuid7(),
                "event_id": event,
                "endpoint_id": "we_bench",
                "enterprise_id": "ent_bench",
                "declaration_id": declaration,
                "duplicate": 0,
                "status": "pending",
                "attempts": 0,
                "max_attempts": 8,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )

    def write(conn: Connection) -> None:
        create_tables_sync(conn, GATEWAY_TABLES)
        store.add_endpoint(
            conn,
            id="we_bench",
            enterprise_id="ent_bench",
            url=url,
            secret="whsec_bench",
            enabled_events=["*"],
            hardening=False,
            description=None,
        )
        conn.execute(store.events_t.insert(), events)
        conn.execute(store.deliveries_t.insert(), rows)

    await db.write(write)


async def drain(
    path: tuple[type[WebhookSender], bool], url: str, deliveries: int, folder: Path
) -> tuple[float, float, float]:
    """CPU seconds per delivery, deliveries per second, and database CPU seconds per delivery
    of one drain through this sender, its attempts recorded a row at a time or not."""
    sender_type, a_row_at_a_time = path
    db = TimedDatabase(f"sqlite:///{folder / f'{uuid7()}.db'}")
    records = (
        mock.patch.object(store, "record_attempts", former_record_attempts)
        if a_row_at_a_time
        else contextlib.nullcontext()
    )
    try:
        await queue(db, url, deliveries)
        sender = sender_type(db, WebhookConfig())
        sender.start()
        assert sender._task is not None
        sender._task.cancel()  # drained by hand below, not on the sender's timer
        with contextlib.suppress(asyncio.CancelledError):
            await sender._task
        db.cpu = 0.0
        cpu, wall = time.process_time(), time.perf_counter()
        with records:
            while await sender.dispatch(time.time()):
                await asyncio.gather(*sender._workers)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await sender.stop()

        def succeeded(conn: Connection) -> int:
            return int(
                conn.execute(
                    select(func.count()).where(store.deliveries_t.c.status == "succeeded")
                ).scalar_one()
            )

        done = await db.read(succeeded)
        assert done == deliveries, f"{done} of {deliveries} succeeded"
        return cpu / deliveries, deliveries / wall, db.cpu / deliveries
    finally:
        db.dispose()


# The former path, the lean client alone, and both changes (this version).
PATHS: dict[str, tuple[type[WebhookSender], bool]] = {
    "former": (HttpxSender, True),
    "lean HTTP only": (WebhookSender, True),
    "new": (WebhookSender, False),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=["old", "new"], help="cProfile one drain instead")
    args = parser.parse_args()
    with uvicorn_serving(APP) as base:
        url = f"{base}/hooks/sw"
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            if args.profile:
                kind = PATHS["former" if args.profile == "old" else "new"]
                profile = cProfile.Profile()
                profile.enable()
                asyncio.run(drain(kind, url, args.deliveries, folder))
                profile.disable()
                pstats.Stats(profile).sort_stats("tottime").print_stats(40)
                return
            results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in PATHS}
            for _ in range(args.rounds):
                for name, kind in PATHS.items():
                    results[name].append(asyncio.run(drain(kind, url, args.deliveries, folder)))
        print(
            f"{args.deliveries} deliveries per drain to one endpoint (6 events a declaration), "
            f"{args.rounds} rounds interleaved"
        )
        for name, values in results.items():
            cpu = statistics.median(v[0] for v in values)
            rate = statistics.median(v[1] for v in values)
            in_db = statistics.median(v[2] for v in values)
            rounds = " ".join(f"{v[0] * 1000:.3f}" for v in values)
            print(
                f"{name:15} CPU a delivery: median {cpu * 1000:.3f} ms"
                f" (database {in_db * 1000:.3f} ms; rounds: {rounds}), {rate:,.0f} deliveries/s"
            )
        old, new = (statistics.median(v[0] for v in results[k]) for k in ("former", "new"))
        print(f"ratio former / new (CPU per delivery): {old / new:.1f}×")


if __name__ == "__main__":
    main()
