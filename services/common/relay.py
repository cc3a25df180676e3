"""The outbox relay: publishes what transactions wrote; sent rows are deleted afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaProducer
from sqlalchemy import Connection, func, select, update

from services.common.changes import OutRow, delete_sent
from services.common.database import Database
from services.common.db import Outbox
from services.common.doorbell import Ringer
from services.common.framing import FRAMED_TOPICS, Record, records_of
from services.common.generations import Generations, forget_old
from services.common.metrics import Metrics
from services.common.tasks import cancel

log = logging.getLogger(__name__)


class OutboxRelay:
    """Publishes outbox rows handed over after commit; sweeps the table for any left behind.

    Deleting what was sent rides on the next batch's transaction (`take_published`), so a
    busy service pays no transaction of its own for it; when idle, the sweep deletes them.
    """

    def __init__(
        self,
        *,
        db: Database,
        producer: AIOKafkaProducer,
        metrics: Metrics,
        sweep_every_s: float = 2.0,
        ringer: Ringer | None = None,
        watchers: Sequence[Callable[[Sequence[OutRow]], None]] = (),
        generations: Generations | None = None,
        prepare: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.producer = producer
        self.metrics = metrics
        self.sweep_every_s = sweep_every_s
        self.ringer = ringer
        # Told of every batch of committed rows as it is handed over (in the event loop).
        self.watchers = watchers
        # With generations on, rows are written to their topic's current generation; a new
        # generation is `prepare`d (its topics made sure of) before its first record.
        self.generations = generations or Generations()
        self.prepare = prepare
        self._generation = -1
        self._pending: list[OutRow] = []
        self._published: list[str] = []
        self._in_flight: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def publish(self, rows: Sequence[OutRow]) -> None:
        """Hand over rows a transaction has committed."""
        if rows:
            self._pending.extend(rows)
            self._wake.set()
            for watch in self.watchers:
                try:
                    watch(rows)
                except Exception:  # a watcher's bug must not stop the caller's loop
                    log.exception("an outbox watcher failed")

    def take_published(self) -> list[str]:
        """Ids sent since the last call, for the caller's transaction to delete."""
        ids, self._published = self._published, []
        return ids

    def give_back(self, ids: Sequence[str]) -> None:
        """Ids taken for a transaction that rolled back: delete them later."""
        self._published.extend(ids)

    def start(self) -> None:
        """Start the relay loop (the lifespan owns it)."""
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Publish what is pending, delete what was sent, then stop."""
        await cancel(self._task)
        with contextlib.suppress(Exception):
            if self._pending:
                rows, self._pending = self._pending, []
                await self._send(rows)
            ids = self.take_published()
            if ids:
                await self.db.write(lambda conn: delete_sent(conn, ids))

    async def _run(self) -> None:
        await self._sweep()
        last_sweep = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.sweep_every_s)
            self._wake.clear()
            rows, self._pending = self._pending, []
            if rows:
                try:
                    await self._send(rows)
                except Exception:
                    # The rows stay in the table; the next sweep sends them again.
                    log.exception("publishing %d outbox messages failed; will retry", len(rows))
            if time.monotonic() - last_sweep >= self.sweep_every_s:
                await self._sweep()
                last_sweep = time.monotonic()

    async def _send(self, rows: list[OutRow]) -> None:
        self._in_flight.update(r.message_id for r in rows)
        try:
            records = await self._records(rows)
            futures = [
                await self.producer.send(topic, value, key=key, partition=partition)
                for topic, partition, key, value in records
            ]
            await asyncio.gather(*futures)
            if self.ringer is not None:  # the broker has them: wake their resting consumers
                self.ringer.ring(r.topic for r in rows)
            self._published.extend(r.message_id for r in rows)
            self.metrics.published.inc(len(rows))
            self.metrics.records_published.inc(len(futures))
        finally:
            self._in_flight.difference_update(r.message_id for r in rows)

    async def _records(self, rows: list[OutRow]) -> list[Record]:
        """The records that carry these rows (see `records_of`), on the live generation."""
        gens = self.generations
        now = time.time()
        if gens.on and gens.current(now) != self._generation:
            if self.prepare is not None:
                await self.prepare(gens.current(now))
            self._generation = gens.current(now)
            forget_old(self.producer.client, gens, self._generation)
        live = {t: gens.live(t, now) for t in {r.topic for r in rows}}
        framed = {t for t in live if t in FRAMED_TOPICS}
        partitions = {t: sorted(await self.producer.partitions_for(live[t])) for t in framed}
        records = records_of(rows, partitions)
        if gens.on:
            records = [r._replace(topic=live[r.topic]) for r in records]
        return records

    async def _sweep(self) -> None:
        """Delete what was sent; send rows older than a sweep period that nobody is sending."""
        sent = self.take_published()
        cutoff = time.time() - self.sweep_every_s
        in_flight = set(self._in_flight)

        def unit(conn: Connection) -> tuple[int, list[OutRow]]:
            if sent:
                delete_sent(conn, sent)
            table = Outbox.__table__  # type: ignore[attr-defined]
            backlog = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            if not backlog:
                return 0, []
            # Claim what is left: rows no other replica's sweep holds (SKIP LOCKED), their
            # clock moved on so no sweep takes them again for a period. One replica re-sends
            # each row, not every replica all of them.
            due = (
                select(table.c.message_id)
                .where(table.c.created_at < cutoff)
                .order_by(table.c.message_id)
                .limit(5000)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            result = conn.execute(
                update(table)
                .where(table.c.message_id.in_(due))
                .values(created_at=time.time())
                .returning(table.c.message_id, table.c.topic, table.c.key, table.c.value)
            )
            rows = sorted(result, key=lambda r: r.message_id)  # write order, as before
            return backlog, [OutRow(*r) for r in rows if r.message_id not in in_flight]

        try:
            backlog, rows = await self.db.write(unit)
            self.metrics.outbox_backlog.set(backlog)
            if rows:
                log.info("relaying %d outbox messages left from earlier", len(rows))
                await self._send(rows)
        except Exception:
            log.exception("outbox sweep failed; will retry")
