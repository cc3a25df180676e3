"""The batch processor on a real SQLite file: inbox, replay, dead letters, optimistic versions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from schemas.envelope import Envelope, new_envelope, whole
from schemas.messages import (
    ApplyRefund,
    AssessImportTaxes,
    FileDeclaration,
    ReleaseGoods,
    ValueLine,
)
from schemas.topics import DEADLETTER, events
from schemas.trade import Scenario, TradeMode
from services.common.agency import load_json
from services.common.changes import Changes, Put, VersionConflict
from services.common.database import Database
from services.common.db import Journal, Outbox, Record
from services.common.handling import Handler, Processor
from services.customs.app import load_reference
from services.customs.handlers import HANDLERS as CUSTOMS
from services.tax.handlers import HANDLERS as TAX
from services.tax.rules import TaxReference
from services.tax.store import TaxRecord
from tests.support import processor_of
from tests.unit.builders import declaration, item

ROOT = Path(__file__).resolve().parents[2]


def tax_processor(db: Database) -> Processor:
    ref = TaxReference.from_json(load_json(ROOT / "services/tax/data/reference.json"))
    return processor_of("tax", db, TAX, reference=ref)


def customs_processor(
    db: Database, handlers: Mapping[str, Handler] = CUSTOMS, *, counter_block: int = 1
) -> Processor:
    return processor_of(
        "customs",
        db,
        handlers,
        reference=load_reference(),  # the tariff too: its lines carry the rates,
        counter_block=counter_block,
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


def retail_order(declaration_id: str, buyer: str, value: str) -> Envelope:
    lines = (
        ValueLine(
            hs_code="1901101000",
            value_cny=Decimal(value),
            duty_rate=Decimal(0),
            consumption_tax_rate=Decimal(0),
            vat_rate=Decimal("0.13"),
        ),
    )
    return new_envelope(
        AssessImportTaxes(
            entry_id="531620261000000001",
            lines=lines,
            trade_mode=TradeMode.CBEC_BONDED,
            buyer_id=buyer,
        ),
        declaration_id=declaration_id,
        source="gateway",
    )


async def test_a_buyers_orders_in_one_batch_and_the_next_share_one_ledger(db: Database) -> None:
    """Three orders of one buyer, 20,000 + 5,000 in one batch, then 1,000.01 in the next:
    25,000 used, 1,000 left, so the third (26,000.01 > 26,000) is refused T301. Another
    buyer's order is counted on its own ledger. A replayed batch counts nothing twice."""
    processor = tax_processor(db)
    first = [
        retail_order("d-1", "buyer-1", "20000.00"),
        retail_order("d-2", "buyer-1", "5000.00"),
        retail_order("d-3", "buyer-2", "100.00"),
    ]
    rows = await processor.process(first)
    replies = [json.loads(r.value) for r in rows]
    assert [r["payload"]["quota"]["amount"] for r in replies] == ["6000.00", "1000.00", "25900.00"]
    await processor.process(first)  # redelivered: the inbox skips them
    (refused,) = await processor.process([retail_order("d-4", "buyer-1", "1000.01")])
    reply = json.loads(refused.value)
    assert (reply["type"], reply["payload"]["reason_code"]) == ("tax.import.refused", "T301")
    ledgers = await db.read(
        lambda conn: conn.execute(
            select(Record.key, Record.data).where(Record.key.like("cbec-quota|%"))  # type: ignore[attr-defined]
        ).all()
    )
    used = {key.split("|")[1]: json.loads(data)["used"] for key, data in ledgers}
    assert used == {"buyer-1": "25000.00", "buyer-2": "100.00"}


def filing(declaration_id: str, trade_mode: TradeMode) -> Envelope:
    return new_envelope(
        FileDeclaration(
            declaration=declaration(item(), trade_mode=trade_mode, scenario=Scenario.HAPPY)
        ),
        declaration_id=declaration_id,
        source="gateway",
    )


async def test_accepted_declarations_get_consecutive_numbers_across_batches(db: Database) -> None:
    """Three 0110 exports then two 9610 lists, in two batches: 报关单 serials 1-5, list and
    preNo serials 1-2; a redelivered filing takes no new number."""
    customs = customs_processor(db)
    first = [filing(f"d-{n}", TradeMode.GENERAL) for n in range(3)]
    second = [filing(f"l-{n}", TradeMode.CBEC_RETAIL) for n in range(2)]
    exports = [json.loads(r.value)["payload"] for r in await customs.process(first)]
    again = [json.loads(r.value)["payload"] for r in await customs.process([*second, first[0]])]
    lists = [r for r in again if r.get("invt_no")]
    assert [r["entry_id"][9:] for r in exports + lists] == [f"{n:09d}" for n in range(1, 6)]
    assert [r["invt_no"][9:] for r in lists] == ["000000001", "000000002"]
    assert [r["pre_no"][9:] for r in lists] == ["000000001", "000000002"]
    # The redelivered filing is answered with its stored reply: the same number, none taken.
    assert [r for r in again if not r.get("invt_no")] == [exports[0]]


async def test_an_agency_decides_as_of_the_sandbox_time_its_command_carries(
    db: Database,
) -> None:
    """Forex settles a receipt the simulated buyer pays on day 30, for goods released today.
    Sent on the real clock it is on time; sent with the sandbox clock 100 days on, forex's
    today is 100 days after release and the receipt is late (F203). The reply carries the
    command's clock back."""
    from datetime import datetime, timedelta, timezone

    from schemas.messages import SettleReceipt
    from services.forex.handlers import HANDLERS as FOREX
    from services.forex.rules import ForexReference

    beijing = timezone(timedelta(hours=8))
    processor = processor_of(
        "forex",
        db,
        FOREX,
        reference=ForexReference.from_json(load_json(ROOT / "services/forex/data/reference.json")),
    )
    command = SettleReceipt(
        entry_id="531620260000000001",
        amount=Decimal("12000.00"),
        currency="USD",
        scenario=Scenario.HAPPY,
        released_on=datetime.now(beijing).date(),
    )
    offsets = {"d-now": 0.0, "d-later": 100 * 24 * 3600.0}
    replies = {}
    for declaration_id, offset in offsets.items():
        envelope = new_envelope(
            command, declaration_id=declaration_id, source="gateway", clock_offset_s=offset
        )
        rows = await processor.process([envelope])
        replies[declaration_id] = whole(rows[0].value)  # every field, defaults too
    on_time, late = replies["d-now"], replies["d-later"]
    assert (on_time["payload"]["match"], on_time["payload"]["reason_code"]) == ("matched", None)
    assert (late["payload"]["match"], late["payload"]["reason_code"]) == ("late", "F203")
    assert any("received 100 days after export" in c for c in late["payload"]["checks"])
    assert "clock_offset_s" not in on_time and late["clock_offset_s"] == 100 * 24 * 3600.0
