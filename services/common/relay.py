"""The outbox relay: publishes what transactions wrote, then deletes it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.changes import OutRow, delete_sent
from services.common.db import Outbox
from services.common.metrics import Metrics

log = logging.getLogger(__name__)


class OutboxRelay:
    """Publishes outbox rows handed over after commit; sweeps the table for any left behind."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        metrics: Metrics,
        sweep_every_s: float = 2.0,
    ) -> None:
        self.engine = engine
        self.producer = producer
        self.metrics = metrics
        self.sweep_every_s = sweep_every_s
        self._pending: list[OutRow] = []
        self._in_flight: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def publish(self, rows: Sequence[OutRow]) -> None:
        """Hand over rows a transaction has committed."""
        if rows:
            self._pending.extend(rows)
            self._wake.set()

    def start(self) -> None:
        """Start the relay loop (the lifespan owns it)."""
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Publish what is pending, then stop."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pending:
            with contextlib.suppress(Exception):
                await self._send(self._take())

    def _take(self) -> list[OutRow]:
        rows, self._pending = self._pending, []
        return rows

    async def _run(self) -> None:
        await self._sweep()
        last_sweep = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.sweep_every_s)
            self._wake.clear()
            rows = self._take()
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
            futures = [await self.producer.send(r.topic, r.value, key=r.key.encode()) for r in rows]
            await asyncio.gather(*futures)
            async with self.engine.begin() as conn:
                await delete_sent(conn, [r.message_id for r in rows])
            self.metrics.published.inc(len(rows))
        finally:
            self._in_flight.difference_update(r.message_id for r in rows)

    async def _sweep(self) -> None:
        """Send rows older than one sweep period that nobody is sending (after a crash or failure)."""
        table = Outbox.__table__  # type: ignore[attr-defined]
        try:
            async with self.engine.connect() as conn:
                backlog = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                self.metrics.outbox_backlog.set(backlog)
                if not backlog:
                    return
                cutoff = time.time() - self.sweep_every_s
                result = await conn.execute(
                    select(table.c.message_id, table.c.topic, table.c.key, table.c.value)
                    .where(table.c.created_at < cutoff)
                    .order_by(table.c.message_id)
                    .limit(5000)
                )
                rows = [OutRow(*r) for r in result if r.message_id not in self._in_flight]
            if rows:
                log.info("relaying %d outbox messages left from earlier", len(rows))
                await self._send(rows)
        except Exception:
            log.exception("outbox sweep failed; will retry")
