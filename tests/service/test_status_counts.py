"""Status counters kept as status changes commit, on real databases (no broker).

The gateway counts each declaration's move between public statuses in the Database's tap
(StatusRecorder hands its status messages to StatusCounts); the counts are added once the
transaction commits, so an attempt that rolls back counts nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from pydantic import BaseModel
from sqlalchemy import Connection

from gateway.saga.observe import StatusCounts
from gateway.webhooks.recorder import StatusRecorder
from gateway.webhooks.sender import WebhookConfig
from schemas.envelope import Envelope
from services.common.changes import Changes, Held, OutRow, Put, load_records
from services.common.database import Database
from services.common.groupcommit import GroupCommit
from services.common.handling import Context, Outcome
from tests.service.test_processor import refund_command
from tests.service.test_webhook_store import SEED, _status
from tests.support import processor


class Doc(BaseModel):
    status: str


class Boom(Exception):
    pass


@pytest.fixture
async def registry(db: Database) -> AsyncIterator[CollectorRegistry]:
    registry = CollectorRegistry()
    recorder = StatusRecorder(WebhookConfig(max_attempts=3), seed=SEED)
    recorder.listeners.append(StatusCounts(registry))
    db.tap = recorder
    yield registry
    db.tap = None


def _held(registry: CollectorRegistry, status: str) -> float:
    entered = registry.get_sample_value("sw_declaration_status_entered_total", {"status": status})
    left = registry.get_sample_value("sw_declaration_status_left_total", {"status": status})
    return (entered or 0.0) - (left or 0.0)


def _move(conn: Connection, key: str, status: str) -> Changes:
    """The declaration `key` moved to `status`: its record and its status message."""
    previous = load_records(conn, [key]).get(key)
    changes = Changes()
    changes.put(Put.of(key, Doc(status=status), status=status, previous=previous))
    changes.emit(_status(key, "ent_a", status, status))
    return changes


async def test_a_walk_through_statuses_leaves_one_in_its_final_status(
    db: Database, registry: CollectorRegistry
) -> None:
    walk = ["submitted", "in_progress", "stalled", "in_progress", "completed"]
    for status in walk:
        await db.write(lambda conn, s=status: _move(conn, "d1", s).apply(conn))
    await db.write(lambda conn: _move(conn, "d2", "submitted").apply(conn))
    held = {s: _held(registry, s) for s in set(walk)}
    assert held == {"submitted": 1, "in_progress": 0, "stalled": 0, "completed": 1}
    assert (
        registry.get_sample_value("sw_declaration_status_entered_total", {"status": "in_progress"})
        == 2
    )


async def test_a_rolled_back_transaction_counts_nothing(
    db: Database, registry: CollectorRegistry
) -> None:
    await db.write(lambda conn: _move(conn, "d1", "submitted").apply(conn))

    def fails_after_applying(conn: Connection) -> None:
        _move(conn, "d1", "stalled").apply(conn)
        raise Boom

    with pytest.raises(Boom):
        await db.write(fails_after_applying)
    assert _held(registry, "submitted") == 1
    assert _held(registry, "stalled") == 0
    assert registry.get_sample_value(
        "sw_declaration_status_entered_total", {"status": "stalled"}
    ) in (None, 0.0)


async def test_a_unit_rolled_back_to_its_savepoint_counts_nothing(
    db: Database, registry: CollectorRegistry
) -> None:
    published: list[OutRow] = []
    group = GroupCommit(db, published.extend)

    def applies_itself(conn: Connection) -> tuple[str, list[OutRow]]:
        return "ok", _move(conn, "d1", "submitted").apply(conn)

    def fails_after_applying(conn: Connection) -> tuple[str, list[OutRow]]:
        _move(conn, "d2", "stalled").apply(conn)
        raise Boom

    def hands_over(conn: Connection) -> tuple[str, Changes]:
        return "ok", _move(conn, "d3", "submitted")

    group.start()
    try:
        one = group.run(applies_itself)
        two = group.run(fails_after_applying)
        three = group.run(hands_over, savepoint=False)
        assert await one == "ok"
        with pytest.raises(Boom):
            await two
        assert await three == "ok"
    finally:
        await group.stop()
    assert _held(registry, "submitted") == 2
    assert _held(registry, "stalled") == 0


async def test_a_batch_rolled_back_by_a_conflict_counts_only_its_retry(
    db: Database, registry: CollectorRegistry
) -> None:
    """Another writer changes the record between the batch's read and its write: the batch
    rolls back to its savepoint and is handled again, and the move is counted once."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer a file (BEGIN IMMEDIATE): no conflict to meet")
    await db.write(lambda conn: _move(conn, "d1", "submitted").apply(conn))
    command = refund_command("d1")
    attempts = 0

    def handler(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
        nonlocal attempts
        attempts += 1
        if attempts == 1:  # another replica wins the record now (its own connection)
            with db.engine.begin() as other:
                other.exec_driver_sql("UPDATE records SET version = version + 1")
        put = Put.of("d1", Doc(status="in_progress"), status="in_progress", previous=held)
        return Outcome(put=put, emit=[_status("d1", "ent_a", "in_progress", "in_progress")])

    await processor("gateway", db, {command.type: handler}).process([command])
    assert attempts == 2
    assert (
        registry.get_sample_value("sw_declaration_status_entered_total", {"status": "in_progress"})
        == 1
    )
    assert _held(registry, "submitted") == 0
