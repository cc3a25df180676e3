"""Frames from the relay through the consumer's reading into the processor, on a real database."""

from __future__ import annotations

import json
from collections.abc import Sequence

from aiokafka import ConsumerRecord, TopicPartition
from sqlalchemy import select

from schemas.envelope import Envelope
from schemas.topics import DEADLETTER, commands
from services.common.changes import envelope_row
from services.common.consumer import read_batch
from services.common.database import Database
from services.common.db import Journal
from services.common.framing import frame, records_of
from tests.service.test_processor import refund_command, tax_processor

TOPIC = commands("tax")


def consumed(values: Sequence[bytes], first_offset: int = 0) -> dict[TopicPartition, list]:  # type: ignore[type-arg]
    """Record values as a consumer's batch of one partition."""
    records = [
        ConsumerRecord(TOPIC, 0, first_offset + i, 0, 0, None, v, None, 0, len(v), ())
        for i, v in enumerate(values)
    ]
    return {TopicPartition(TOPIC, 0): records}


async def test_a_frames_envelopes_are_handled_once_each_and_a_bad_one_dead_lettered_alone(
    db: Database,
) -> None:
    tax = tax_processor(db)
    first, second = refund_command("d-1"), refund_command("d-2")
    unknown = json.loads(first.to_bytes())
    unknown.update(id="bad-1", type="tax.no.such")
    values = [first.to_bytes(), json.dumps(unknown).encode(), first.to_bytes(), second.to_bytes()]
    envelopes, dead, received = read_batch(
        consumed([frame(values)]), service="tax", metrics=tax.metrics
    )
    assert [e.id for e in envelopes] == [first.id, first.id, second.id]
    assert [(d.kind, d.frame_index, d.offset) for d in dead] == [("unknown_type", 1, 0)]
    assert json.loads(dead[0].value)["id"] == "bad-1"
    assert received[second.id] == second.to_bytes()
    value = tax.metrics.registry.get_sample_value
    assert value("sw_envelopes_consumed_total", {"topic": TOPIC}) == 4
    assert value("sw_records_consumed_total", {"topic": TOPIC}) == 1

    rows = await tax.process(envelopes, dead, received=received)
    replies = [json.loads(r.value) for r in rows if r.topic != DEADLETTER]
    assert sorted(r["causation_id"] for r in replies) == sorted([first.id, second.id])
    assert [json.loads(r.value)["frame_index"] for r in rows if r.topic == DEADLETTER] == [1]
    assert tax.metrics.duplicates._value.get() == 1  # the second copy inside the frame
    # The journal keeps each command as it came inside the frame.
    journal = Journal.__table__  # type: ignore[attr-defined]
    kept = await db.read(
        lambda conn: dict(
            conn.execute(
                select(journal.c.message_id, journal.c.envelope).where(journal.c.direction == "in")
            ).all()
        )
    )
    assert {k: bytes(v) for k, v in kept.items()} == {
        first.id: first.to_bytes(),
        second.id: second.to_bytes(),
    }


async def test_what_the_relay_frames_the_consumer_reads_back_in_order(db: Database) -> None:
    commands_ = [refund_command(f"d-{i % 3}") for i in range(7)]
    rows = [envelope_row(c) for c in commands_]
    records = records_of(rows, {TOPIC: [0]})
    assert len(records) == 1  # one partition: one record for the flush
    envelopes, dead, _ = read_batch(
        consumed([r.value for r in records]), service="tax", metrics=tax_processor(db).metrics
    )
    assert dead == []
    assert [e.id for e in envelopes] == [c.id for c in commands_]
    assert all(isinstance(e, Envelope) for e in envelopes)


async def test_a_record_of_one_envelope_and_an_unreadable_record_are_read_as_before(
    db: Database,
) -> None:
    tax = tax_processor(db)
    command = refund_command()
    envelopes, dead, _ = read_batch(
        consumed([command.to_bytes(), b"[not json", b"{not json"], first_offset=7),
        service="tax",
        metrics=tax.metrics,
    )
    assert [e.id for e in envelopes] == [command.id]
    assert [(d.kind, d.offset, d.frame_index, d.value) for d in dead] == [
        ("unparseable", 8, None, "[not json"),
        ("unparseable", 9, None, "{not json"),
    ]
