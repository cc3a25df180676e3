"""Two replicas of one service writing PostgreSQL at the same moment: nothing serializes them,
and the row guards keep every effect exactly once.

Each replica is a Processor with its own Database (its own thread and connection), as two
processes would be. A barrier inside the handlers holds both replicas' write transactions
open together: were writers serialized (the old advisory lock), the barrier would break.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from functools import partial

import pytest

from schemas.envelope import Envelope
from schemas.trade import TradeMode
from services.common.changes import Held
from services.common.database import Database
from services.common.handling import Context, Handler, Outcome, Processor
from services.customs.handlers import HANDLERS as CUSTOMS
from tests.service.test_processor import customs_processor, filing


@pytest.fixture
async def replicas(db: Database) -> AsyncIterator[tuple[Database, Database]]:
    """The fixture's database and a second writer of it (PostgreSQL only: SQLite has one)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer a file (BEGIN IMMEDIATE): nothing to race")
    other = Database(db.engine.url.render_as_string(hide_password=False), name="replica-2")
    try:
        yield db, other
    finally:
        other.dispose()


def at_barrier(
    handlers: Mapping[str, Handler], barrier: threading.Barrier, *messages: Envelope
) -> dict[str, Handler]:
    """The handlers; the first handling of `messages` first meets the other replica inside
    its transaction."""
    waiting = {m.id for m in messages}

    def wrap(handler: Handler) -> Handler:
        def meeting(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
            if envelope.id in waiting:  # a message handled again (after a conflict) goes on
                waiting.discard(envelope.id)
                barrier.wait()  # raises BrokenBarrierError if the other cannot get here
            return handler(envelope, held, ctx)

        return meeting

    return {t: wrap(h) for t, h in handlers.items()}


def customs(db: Database, handlers: Mapping[str, Handler] = CUSTOMS, block: int = 3) -> Processor:
    return customs_processor(db, handlers, counter_block=block)


def payloads(rows: list) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(r.value)["payload"] for r in rows]


async def counts(db: Database, *sql: str) -> list[int]:
    def read(conn: object) -> list[int]:
        return [int(conn.exec_driver_sql(s).scalar_one()) for s in sql]  # type: ignore[attr-defined]

    return await db.read(read)


async def test_two_replicas_filing_the_same_declaration_at_once_file_it_once(
    replicas: tuple[Database, Database],
) -> None:
    """Both replicas hold a write transaction handling the same filing (a redelivery after a
    rebalance): one commits, the other meets the inbox's key, sets the message aside and
    answers it, in a follow-up transaction, with the reply the winner stored."""
    barrier = threading.Barrier(2, timeout=10)
    message = filing("d-same", TradeMode.GENERAL)
    first, second = (customs(d, at_barrier(CUSTOMS, barrier, message)) for d in replicas)
    mine, theirs = await asyncio.gather(first.process([message]), second.process([message]))
    assert not barrier.broken
    assert [r.message_id for r in mine] == [r.message_id for r in theirs]  # one reply, twice
    conflicts = [p.metrics.conflicts._value.get() for p in (first, second)]
    assert sorted(conflicts) == [0, 1]
    assert await counts(
        replicas[0],
        "SELECT count(*) FROM inbox",
        "SELECT count(*) FROM records WHERE key = 'd-same'",
        "SELECT count(*) FROM outbox",
        "SELECT count(*) FROM journal WHERE direction = 'in'",
    ) == [1, 1, 1, 1]


async def test_two_replicas_opening_the_same_serial_block_at_once_give_unique_numbers(
    replicas: tuple[Database, Database],
) -> None:
    """Two filings, one a replica, both opening the first block (3 numbers) of the same
    counters inside concurrent transactions: one claims 1-3, the other's claim conflicts, it is
    set aside and claims 4-6 in its follow-up. Numbers are unique; the winner's block serves it."""
    barrier = threading.Barrier(2, timeout=10)
    a, b = filing("d-a", TradeMode.GENERAL), filing("d-b", TradeMode.GENERAL)
    first, second = (customs(d, at_barrier(CUSTOMS, barrier, a, b)) for d in replicas)
    mine, theirs = await asyncio.gather(first.process([a]), second.process([b]))
    assert not barrier.broken
    serials = sorted(int(p["entry_id"][9:]) for p in payloads(mine) + payloads(theirs))
    assert serials == [1, 4]
    # Each keeps its block: the next filing of the first winner takes 2, without a conflict.
    winner = first if first.metrics.conflicts._value.get() == 0 else second
    (after,) = payloads(await winner.process([filing("d-c", TradeMode.GENERAL)]))
    assert int(after["entry_id"][9:]) == 2


async def test_a_flood_of_redelivered_filings_on_two_replicas_ends_exactly_once(
    replicas: tuple[Database, Database],
) -> None:
    """120 filings (0110 and 9610, so three hot counters), each delivered to both replicas in
    shuffled, overlapping batches, some twice: one record, one inbox id, one reply and one
    journal line per filing; every 报关单, list and preNo number unique; the counters claimed
    no more than the numbers used plus the blocks still held."""
    rng = random.Random(20261206)
    messages = [
        filing(f"d-{n}", TradeMode.GENERAL if n % 2 else TradeMode.CBEC_RETAIL) for n in range(120)
    ]
    first, second = (customs(d, block=5) for d in replicas)

    async def deliver(processor: Processor) -> list[dict]:  # type: ignore[type-arg]
        stream = [*messages, *rng.sample(messages, 40)]
        rng.shuffle(stream)
        replies = []
        for i in range(0, len(stream), 16):
            batch = stream[i : i + 16]
            replies.extend(payloads(await retried(partial(processor.process, batch))))
        return replies

    replies = [r for rs in await asyncio.gather(deliver(first), deliver(second)) for r in rs]
    accepted = {r["entry_id"]: r for r in replies}  # replayed replies are the same reply
    assert await counts(
        replicas[0],
        "SELECT count(*) FROM inbox",
        "SELECT count(*) FROM records WHERE key LIKE 'd-%%'",
        "SELECT count(DISTINCT message_id) FROM outbox",
        "SELECT count(*) FROM outbox",
        "SELECT count(*) FROM journal WHERE direction = 'in'",
    ) == [120, 120, 120, 120, 120]
    assert len(accepted) == 120  # 报关单 numbers unique across both replicas
    lists = [r for r in accepted.values() if r.get("invt_no")]  # absent when None (compact wire)
    assert len({r["invt_no"] for r in lists}) == len({r["pre_no"] for r in lists}) == 60
    # A clean stop gives back what is left of each block, unless the other replica claimed
    # after it: then that rest (fewer than a block) is a gap.
    for processor in (first, second):
        await processor.give_back()
    entry = await replicas[0].read(
        lambda conn: conn.exec_driver_sql(
            "SELECT data FROM records WHERE key LIKE 'serial|entry|%%'"
        ).scalar_one()
    )
    used = sorted(int(n[9:]) for n in accepted)
    assert used[-1] <= json.loads(bytes(entry))["last"] < 120 + 5


async def retried(run: Callable[[], object]) -> list:  # type: ignore[type-arg]
    """What the consumer loop does with a batch that rolled back as a whole: take it again."""
    for _ in range(20):
        try:
            return await run()  # type: ignore[no-any-return,misc]
        except Exception:
            await asyncio.sleep(0.01)  # retry pacing, as the loop's backoff
    raise AssertionError("the batch never committed")
