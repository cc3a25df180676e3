"""Group commit on real databases: units that hand over their Changes are written together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import Connection, func, select

from schemas.envelope import Envelope, new_envelope
from schemas.messages import DeclarationSubmitted
from services.common.changes import (
    Changes,
    Held,
    OutRow,
    Put,
    VersionConflict,
    load_records,
    seen_messages,
)
from services.common.database import Database, transaction_memo
from services.common.db import Journal, Outbox, Record, make_engine
from services.common.groupcommit import GroupCommit
from tests.unit.builders import declaration


def _envelope(key: str) -> Envelope:
    return new_envelope(
        DeclarationSubmitted(enterprise_id="ent_a", declaration=declaration()),
        declaration_id=key,
        source="test",
    )


def _submission(key: str) -> Changes:
    changes = Changes()
    changes.put(Put(key=key, status="open", data=b"{}", owner="ent_a"))
    changes.emit(_envelope(key))
    return changes


def _count(conn: Connection, table: object) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


async def test_handed_over_changes_are_written_and_published_once_each(db: Database) -> None:
    published: list[OutRow] = []
    group = GroupCommit(db, published.extend)
    group.start()

    def unit(key: str):  # type: ignore[no-untyped-def]
        def run(conn: Connection) -> tuple[str, Changes]:
            return key, _submission(key)

        return run

    try:
        results = await asyncio.gather(*(group.run(unit(f"d{i}")) for i in range(20)))
    finally:
        await group.stop()
    assert results == [f"d{i}" for i in range(20)]
    assert sorted(r.key for r in published) == sorted(f"d{i}" for i in range(20))

    def counts(conn: Connection) -> tuple[int, int, int]:
        return (
            _count(conn, Record.__table__),  # type: ignore[attr-defined]
            _count(conn, Outbox.__table__),  # type: ignore[attr-defined]
            _count(conn, Journal.__table__),  # type: ignore[attr-defined]
        )

    assert await db.write(counts) == (20, 20, 20)


async def test_a_failing_unit_writes_nothing_and_the_others_commit(db: Database) -> None:
    published: list[OutRow] = []
    group = GroupCommit(db, published.extend)

    transactions: list[object] = []  # each unit's transaction: the three must share one

    def good(conn: Connection) -> tuple[str, Changes]:
        transactions.append(conn.get_transaction())
        return "ok", _submission("good")

    def bad(conn: Connection) -> tuple[str, Sequence[OutRow]]:
        transactions.append(conn.get_transaction())
        transaction_memo(conn)["remembered"] = "from a unit that fails"
        conn.execute(
            Record.__table__.insert(),  # type: ignore[attr-defined]
            {
                "key": "half-written",
                "owner": "",
                "status": "open",
                "version": 1,
                "data": b"{}",
                "created_at": 0.0,
                "updated_at": 0.0,
            },
        )
        raise ValueError("the unit's own check failed")

    def after(conn: Connection) -> tuple[bool, Sequence[OutRow]]:
        transactions.append(conn.get_transaction())
        return "remembered" in transaction_memo(conn), ()

    # Tasks run in the order they were made: the three queue before the writer's first look,
    # so they share one transaction.
    futures = [asyncio.ensure_future(group.run(u)) for u in (good, bad, after)]
    group.start()
    try:
        done = await asyncio.gather(*futures, return_exceptions=True)
    finally:
        await group.stop()
    assert done[0] == "ok"
    assert isinstance(done[1], ValueError)
    assert len(transactions) == 3 and transactions[0] is not None
    assert all(t is transactions[0] for t in transactions), "the three shared one transaction"
    assert done[2] is False, "the memo forgets what a rolled-back unit remembered"

    def keys(conn: Connection) -> list[str]:
        table = Record.__table__  # type: ignore[attr-defined]
        return list(conn.execute(select(table.c.key)).scalars())

    assert await db.write(keys) == ["good"]
    assert [r.key for r in published] == ["good"]


async def test_the_hot_statements_round_trip_on_each_database(db: Database) -> None:
    """Changes.apply, load_records, seen_messages and delete_sent go straight to the driver:
    the same answers on SQLite and PostgreSQL, a stale version refused, bytes kept as bytes."""
    submitted = _submission("d1")
    submitted.handled(submitted_envelope := _envelope("d1"), [b'{"a":1}'])
    rows = await db.write(submitted.apply)

    def read(conn: Connection) -> tuple[Held | None, dict[str, bytes | None]]:
        return load_records(conn, ["d1", "missing"]).get("d1"), seen_messages(
            conn, [submitted_envelope.id, "never"]
        )

    held, seen = await db.write(read)
    assert held is not None and (held.status, held.version, held.data) == ("open", 1, b"{}")
    assert seen == {submitted_envelope.id: b'[{"a":1}]'}

    stale = Changes()
    stale.put(Put(key="d1", status="done", data=b"[]", expected_version=7))
    with pytest.raises(VersionConflict):
        await db.write(stale.apply)
    fresh = Changes(published=[r.message_id for r in rows])
    fresh.put(Put(key="d1", status="done", data=b"[]", expected_version=1))
    await db.write(fresh.apply)

    def after(conn: Connection) -> tuple[Held, int]:
        return load_records(conn, ["d1"])["d1"], _count(conn, Outbox.__table__)  # type: ignore[attr-defined]

    updated, outbox = await db.write(after)
    assert (updated.status, updated.version, updated.data, outbox) == ("done", 2, b"[]", 0)


async def test_the_hot_statements_also_run_on_the_async_engines_connection(db: Database) -> None:
    """Reads of the web side go through the async engine (`run_sync`): the same statements
    must find the same rows there (its DBAPI connection is an adapter, not the driver's)."""
    await db.write(_submission("d9").apply)
    url = db.engine.url.render_as_string(hide_password=False)
    engine = make_engine(url.replace("sqlite://", "sqlite+aiosqlite://", 1))
    try:
        async with engine.connect() as conn:
            held = await conn.run_sync(lambda c: load_records(c, ["d9"]))
    finally:
        await engine.dispose()
    assert held["d9"].owner == "ent_a"
