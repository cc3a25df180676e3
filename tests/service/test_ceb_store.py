"""The CEB door's unit and its tables on real databases: filing, the mailbox, retention."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from gateway.ceb import store
from gateway.ceb.door import Door, Outcome
from gateway.ceb.parse import parse
from gateway.ceb.sampleset import fresh, load
from gateway.core.config import GatewayConfig
from gateway.saga.declare import intend
from services.common.changes import Changes
from services.common.database import Database
from services.common.db import KIT_TABLES, create_tables_sync
from services.common.rawsql import Driver

ENT = "ent_ceb"
DOOR = Door(
    config=GatewayConfig(step_deadline_s=10, step_max_attempts=3),
    intend=intend,
    now=lambda: datetime(2026, 12, 6, 6, 30, tzinfo=UTC),
)


async def _send(db: Database, body: bytes) -> Outcome:
    message = parse(body)

    def unit(conn: Connection) -> Outcome:
        changes = Changes()
        out = DOOR.unit(conn, changes, message, ENT)
        changes.apply(conn)
        return out

    return await db.write(unit)


async def _count(db: Database, sql: str, *params: Any) -> int:
    return int(await db.read(lambda conn: Driver(conn).rows(sql, params)[0][0]))


async def test_the_import_set_is_filed_and_the_list_declared(db: Database) -> None:
    await db.write(lambda conn: create_tables_sync(conn, KIT_TABLES))
    bodies = [body for _, body in load("import")]
    sent = [await _send(db, body) for body in bodies]
    assert [[r.status for r in out.receipts] for out in sent] == [["2", "120"]] * 3 + [["2"]]
    declaration_id = sent[3].receipts[0].info.split("declaration ")[1].rstrip("]")
    listed = await db.read(lambda conn: store.by_declarations(conn, [declaration_id]))
    assert listed[declaration_id].message == "CEB621"
    assert await _count(db, "SELECT COUNT(*) FROM records WHERE key = ?", declaration_id) == 1
    assert await _count(db, "SELECT COUNT(*) FROM ceb_receipts") == 7
    # sent again: nothing new is filed or posted; the last receipt sent is the answer
    again = await _send(db, bodies[0])
    assert (
        again.receipts == []
        and len(again.replayed) == 1
        and b"<ceb:returnStatus>120<" in (again.replayed[0])
    )
    assert await _count(db, "SELECT COUNT(*) FROM ceb_documents") == 4
    assert await _count(db, "SELECT COUNT(*) FROM ceb_receipts") == 7
    # a list naming an order nobody filed: refused C305, nothing declared
    stray = (
        bodies[3]
        .replace(b"<ceb:orderNo>ORD", b"<ceb:orderNo>XXX")
        .replace(b"<ceb:copNo>SW-GREEN-I", b"<ceb:copNo>SW-GREEN-J")
    )
    refused = await _send(db, fresh([stray])[0])  # new guids and numbers
    assert [r.status for r in refused.receipts] == ["100"] and "C305" in refused.receipts[0].info
    assert await _count(db, "SELECT COUNT(*) FROM records") == 1


async def test_the_mailbox_keeps_a_receipt_once_in_order(db: Database) -> None:
    def post(conn: Connection) -> None:
        changes = Changes()
        for status in ("2", "120", "120", "399"):
            store.post_receipt(
                changes, enterprise_id=ENT, ori_guid="G", message="CEB622", status=status,
                xml=status.encode(),
            )  # fmt: skip
        changes.apply(conn)

    await db.write(post)
    await db.write(post)  # a redelivered batch
    got = await db.read(
        lambda conn: store.receipts_since(conn, enterprise_id=ENT, after=0, limit=10)
    )
    assert [p.status for p in got] == ["2", "120", "399"]
    after = await db.read(
        lambda conn: store.receipts_since(conn, enterprise_id=ENT, after=got[0].seq, limit=10)
    )
    assert [p.status for p in after] == ["120", "399"]
    assert await db.read(lambda conn: store.receipts_since(conn, enterprise_id="other", after=0, limit=10)) == []  # fmt: skip


async def test_retention_removes_a_list_its_documents_and_their_receipts(db: Database) -> None:
    await db.write(lambda conn: create_tables_sync(conn, KIT_TABLES))
    first = [await _send(db, body) for _, body in load("import")]
    other = [await _send(db, body) for _, body in load("import")]
    gone = first[3].receipts[0].info.split("declaration ")[1].rstrip("]")
    assert await _count(db, "SELECT COUNT(*) FROM ceb_documents") == 8
    await db.write(lambda conn: store.purge_declarations(conn, [gone]))
    assert await _count(db, "SELECT COUNT(*) FROM ceb_documents") == 4
    assert await _count(db, "SELECT COUNT(*) FROM ceb_receipts") == 7
    kept = {r.ori_guid for out in other for r in out.receipts}
    rows = await db.read(lambda conn: Driver(conn).rows("SELECT ori_guid FROM ceb_receipts"))
    assert {row[0] for row in rows} == kept


async def test_several_documents_in_one_message_each_get_receipts(db: Database) -> None:
    """Two orders in one CEB311: each filed and answered; the same order twice is filed once."""
    order = load("import")[0][1].decode()
    start, end = order.index("<ceb:Order>"), order.index("</ceb:Order>") + len("</ceb:Order>")
    one = order[start:end]
    other = fresh([one.encode()])[0].decode()  # another guid and orderNo
    two = order[:end] + other + one + order[end:]  # the first order again, third
    out = await _send(db, two.encode())
    assert [(r.ori_guid, r.status) for r in out.receipts] == [
        (g, s) for g in (parse(order.encode()).documents[0].guid, parse(
            (order[:start] + other + order[end:]).encode()).documents[0].guid)
        for s in ("2", "120")
    ]  # fmt: skip
    assert len(out.replayed) == 1
    assert await _count(db, "SELECT COUNT(*) FROM ceb_documents") == 2
