"""Two replicas writing one service's database at once: each command is handled once."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from services.common.changes import OutRow
from services.common.database import Database
from services.common.db import Inbox, Journal, Outbox, Record
from services.common.handling import Processor
from tests.service.test_processor import refund_command, tax_processor


async def _handle(processor: Processor, command: object) -> list[OutRow]:
    # What the consumer loop does: a batch that rolled back is taken again.
    for _ in range(20):
        try:
            return await processor.process([command])  # type: ignore[list-item]
        except Exception:
            await asyncio.sleep(0.01)  # retry pacing, as the consumer loop's backoff
    raise AssertionError("the batch never committed")


async def test_two_writers_racing_on_the_same_commands_pay_each_refund_once(db: Database) -> None:
    other = Database(db.engine.url.render_as_string(hide_password=False), name="replica-2")
    try:
        first, second = tax_processor(db), tax_processor(other)
        commands = [refund_command(f"d-{i}") for i in range(30)]
        results = await asyncio.gather(*(_handle(p, c) for c in commands for p in (first, second)))
        # Both replicas answer each command with the same reply (one decided, one replayed).
        for i in range(len(commands)):
            mine, theirs = results[2 * i], results[2 * i + 1]
            assert [r.message_id for r in mine] == [r.message_id for r in theirs]
            assert len(mine) == 1

        def counts(conn: object) -> tuple[int, ...]:
            return tuple(
                int(conn.execute(select(func.count()).select_from(t)).scalar_one())  # type: ignore[attr-defined]
                for t in (Inbox.__table__, Record.__table__, Outbox.__table__, Journal.__table__)  # type: ignore[attr-defined]
            )

        # One inbox id, one record, one reply waiting in the outbox, one line in and one out,
        # a command.
        assert await db.read(counts) == (30, 30, 30, 60)
        assert first.metrics.duplicates._value.get() + second.metrics.duplicates._value.get() == 30
    finally:
        other.dispose()
