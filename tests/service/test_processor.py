"""The batch processor on a real SQLite file: inbox, replay, dead letters, optimistic versions."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from schemas.envelope import Envelope, new_envelope
from schemas.messages import ApplyRefund, ReleaseGoods, ValueLine
from schemas.topics import DEADLETTER, events
from services.common.agency import load_json
from services.common.changes import Changes, Put, VersionConflict
from services.common.database import Database
from services.common.db import Journal, Outbox, Record
from services.common.handling import Processor
from services.common.metrics import Metrics
from services.customs.handlers import HANDLERS as CUSTOMS
from services.customs.rules import CustomsReference
from services.tax.handlers import HANDLERS as TAX
from services.tax.rules import TaxReference
from services.tax.store import TaxRecord

ROOT = Path(__file__).resolve().parents[2]


def tax_processor(db: Database) -> Processor:
    ref = TaxReference.from_json(load_json(ROOT / "services/tax/data/reference.json"))
    return Processor(
        service="tax",
        db=db,
        handlers=TAX,
        metrics=Metrics("tax"),
        run_seed=1,
        reference=ref,
    )


def customs_processor(db: Database) -> Processor:
    ref = CustomsReference.from_json(load_json(ROOT / "services/customs/data/reference.json"))
    return Processor(
        service="customs",
        db=db,
        handlers=CUSTOMS,
        metrics=Metrics("customs"),
        run_seed=1,
        reference=ref,
    )


def refund_command(declaration_id: str = "d-1") -> Envelope:
    lines = (ValueLine(hs_code="8517130000", value_cny=Decimal("1000.00")),)
    return new_envelope(
        ApplyRefund(entry_id="531620260000000001", lines=lines),
        declaration_id=declaration_id,
        source="gateway",
    )


async def count(db: Database, table: object) -> int:
    return int(
        await db.read(
            lambda conn: conn.execute(select(func.count()).select_from(table)).scalar_one()
        )  # type: ignore[arg-type]
    )


async def test_a_command_handled_twice_in_one_batch_pays_one_refund(db: Database) -> None:
    processor = tax_processor(db)
    command = refund_command()
    rows = await processor.process([command, command])
    assert [r.topic for r in rows] == [events("tax")]
    reply = json.loads(rows[0].value)
    assert reply["type"] == "tax.refund.paid"
    assert reply["causation_id"] == command.id
    # 1,000.00 × 13% = 130.00
    assert reply["payload"]["refund"]["amount"] == "130.00"
    assert processor.metrics.duplicates._value.get() == 1


async def test_a_redelivered_command_replays_the_same_reply_and_changes_nothing(
    db: Database,
) -> None:
    processor = tax_processor(db)
    command = refund_command()
    first = await processor.process([command])
    before = await db.read(lambda conn: conn.execute(select(Record.__table__)).all())  # type: ignore[attr-defined]
    again = await processor.process([command])
    assert [r.message_id for r in again] == [r.message_id for r in first]
    assert json.loads(again[0].value) == json.loads(first[0].value)
    after = await db.read(lambda conn: conn.execute(select(Record.__table__)).all())  # type: ignore[attr-defined]
    assert after == before
    assert TaxRecord.model_validate_json(after[0].data).amount == 130
    # One journal line in, one out: the replay is not a second decision.
    assert await count(db, Journal.__table__) == 2  # type: ignore[attr-defined]


async def test_a_message_the_handler_refuses_is_dead_lettered_and_the_rest_handled(
    db: Database,
) -> None:
    customs = customs_processor(db)
    stray = new_envelope(ReleaseGoods(), declaration_id="never-filed", source="gateway")
    wrong_service = refund_command("d-2")
    rows = await customs.process([stray, wrong_service])
    letters = [json.loads(r.value) for r in rows if r.topic == DEADLETTER]
    assert [(d["kind"], d["message_id"]) for d in letters] == [
        ("unknown_declaration", stray.id),
        ("not_handled", wrong_service.id),
    ]
    assert "never-filed" in letters[0]["reason"]
    # Both are marked handled: a redelivery does not dead-letter them again.
    assert await customs.process([stray]) == []


async def test_a_record_changed_since_it_was_read_rolls_back_the_whole_unit(
    db: Database,
) -> None:
    state = TaxRecord(kind="refund", entry_id="e", outcome="paid", amount=1)
    await db.write(Changes(puts={"k": Put.of("k", state, status="s", previous=None)}).apply)
    stale = Put("k", "s2", b"{}", expected_version=0)
    changes = Changes()
    changes.put(stale)
    changes.emit(refund_command("k"))
    with pytest.raises(VersionConflict):
        await db.write(changes.apply)
    assert await count(db, Outbox.__table__) == 0  # type: ignore[attr-defined]
    status = await db.read(
        lambda conn: conn.execute(select(Record.__table__.c.status)).scalar_one()  # type: ignore[attr-defined]
    )
    assert status == "s"
