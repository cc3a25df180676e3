"""Webhooks recorded in the transaction of the status change, on real databases (no broker).

The recorder is the gateway Database's tap: whatever path writes a status message through
`Changes.apply` (a consumed batch, a group commit, the deadline watcher, a route) gets its
deliveries in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from gateway.saga.handlers import HANDLERS
from gateway.saga.watcher import DeadlineWatcher
from gateway.webhooks import store
from gateway.webhooks.recorder import StatusRecorder
from gateway.webhooks.sender import WebhookConfig
from gateway.webhooks.store import deliveries_t, events_t
from schemas.envelope import reply
from services.common.changes import Changes, OutRow, envelope_row
from services.common.database import Database
from services.common.groupcommit import GroupCommit
from services.common.runtime import Runtime
from services.common.settings import Settings
from tests.service.test_deadlines import CONFIG, gateway_processor, started
from tests.service.test_webhook_store import SEED, _endpoint, _status
from tests.unit.builders import green_acceptance


@pytest.fixture
async def recorder(db: Database) -> AsyncIterator[StatusRecorder]:
    tap = StatusRecorder(WebhookConfig(max_attempts=3), seed=SEED)
    db.tap = tap
    yield tap
    db.tap = None


def _counts(conn: Connection) -> tuple[int, int, int]:
    def count(table: Any) -> int:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    outbox = int(conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar_one())
    return outbox, count(events_t), count(deliveries_t)


class Boom(Exception):
    pass


async def test_a_status_change_and_its_deliveries_commit_or_roll_back_together(
    db: Database, recorder: StatusRecorder
) -> None:
    await _endpoint(db, "we_a", "ent_a")
    await _endpoint(db, "we_a2", "ent_a", enabled_events=["declaration.completed"])

    def write(conn: Connection, *, fail: bool) -> None:
        changes = Changes()
        changes.emit(_status("d1", "ent_a", "submitted", "customs_review"))
        changes.emit(_status("d1", "ent_a", "completed", "completed"))
        changes.apply(conn)
        if fail:
            raise Boom  # whatever fails after the write takes the deliveries with it

    with pytest.raises(Boom):
        await db.write(lambda conn: write(conn, fail=True))
    assert await db.read(_counts) == (0, 0, 0)
    await db.write(lambda conn: write(conn, fail=False))
    # 2 status messages, 2 events; 2 deliveries to we_a, the completed one to we_a2 as well.
    assert await db.read(_counts) == (2, 2, 3)
    assert recorder.queued


async def test_a_unit_rolled_back_in_a_group_commit_takes_only_its_own_deliveries(
    db: Database, recorder: StatusRecorder
) -> None:
    await _endpoint(db, "we_a", "ent_a")
    published: list[OutRow] = []
    group = GroupCommit(db, published.extend)

    def applies_itself(conn: Connection) -> tuple[str, list[OutRow]]:
        changes = Changes()
        changes.emit(_status("d1", "ent_a", "submitted", "customs_review"))
        return "ok", changes.apply(conn)

    def hands_over(conn: Connection) -> tuple[str, Changes]:
        changes = Changes()
        changes.emit(_status("d2", "ent_a", "submitted", "customs_review"))
        return "ok", changes

    def fails_after_applying(conn: Connection) -> tuple[str, list[OutRow]]:
        changes = Changes()
        changes.emit(_status("d3", "ent_a", "submitted", "customs_review"))
        changes.apply(conn)
        raise Boom

    group.start()
    try:
        one = group.run(applies_itself)
        two = group.run(hands_over, savepoint=False)
        three = group.run(fails_after_applying)
        assert await one == "ok" and await two == "ok"
        with pytest.raises(Boom):
            await three
    finally:
        await group.stop()
    declarations = await db.read(
        lambda conn: sorted(conn.execute(select(deliveries_t.c.declaration_id)).scalars())
    )
    assert declarations == ["d1", "d2"]
    assert sorted(r.key for r in published) == ["d1", "d2"]


async def test_a_status_row_queued_as_bytes_is_recorded_too(
    db: Database, recorder: StatusRecorder
) -> None:
    await _endpoint(db, "we_a", "ent_a")
    status = _status("d1", "ent_a", "submitted", "customs_review")

    def write(conn: Connection) -> None:
        changes = Changes()
        changes.emit_raw([envelope_row(status)])  # not through `emit`: no decoded envelope
        changes.apply(conn)

    await db.write(write)
    assert await db.read(_counts) == (1, 1, 1)


async def test_an_endpoint_registered_by_another_replica_gets_the_next_status_change(
    db: Database, recorder: StatusRecorder
) -> None:
    # Another gateway process on the same database: its own Database, no cache shared.
    other = Database(db.engine.url.render_as_string(hide_password=False))

    async def change(n: int) -> None:
        def write(conn: Connection) -> None:
            changes = Changes()
            changes.emit(_status(f"d{n}", "ent_a", "submitted", "customs_review"))
            changes.apply(conn)

        await db.write(write)

    async def deliveries() -> list[tuple[str, str]]:
        return await db.read(
            lambda conn: [
                (r.declaration_id, r.endpoint_id)
                for r in conn.execute(
                    select(deliveries_t.c.declaration_id, deliveries_t.c.endpoint_id).order_by(
                        deliveries_t.c.declaration_id, deliveries_t.c.endpoint_id
                    )
                )
            ]
        )

    try:
        await change(1)  # no endpoint: the cache now knows ent_a has none
        await _endpoint(other, "we_a", "ent_a")
        await change(2)
        await _endpoint(other, "we_b", "ent_a")
        await change(3)
        await change(4)
        before_delete = await deliveries()
        await other.write(
            lambda conn: store.delete_endpoint(conn, enterprise_id="ent_a", endpoint_id="we_a")
        )
        await change(5)
    finally:
        other.dispose()
    assert before_delete == [
        ("d2", "we_a"),
        ("d3", "we_a"),
        ("d3", "we_b"),
        ("d4", "we_a"),
        ("d4", "we_b"),
    ]
    # we_a's deliveries went with it; d5 went to we_b alone.
    assert await deliveries() == [("d3", "we_b"), ("d4", "we_b"), ("d5", "we_b")]
    # The endpoints were read once per change of them, not once per status change.
    assert recorder.endpoints.reads == 4


async def test_a_stalled_step_and_an_agency_event_queue_the_webhooks_of_their_moves(
    db: Database, recorder: StatusRecorder
) -> None:
    """Two of the paths that write status changes, as the gateway runs them: the deadline
    watcher stalling a step, then the saga consuming a late answer."""
    await _endpoint(db, "we_a", "ent")
    now = time.time()
    commands = await started(db, now)
    runtime = Runtime(service="gateway", settings=Settings(), handlers=HANDLERS, topics=[], db=db)
    watcher = DeadlineWatcher(runtime, CONFIG, publish=lambda rows: None)
    for at in (now + 2.5, now + 2.5 + 4.9, now + 100):  # two re-sends, then out of tries
        assert await watcher.check(at) == 1

    async def queued() -> list[str]:
        return await db.read(
            lambda conn: list(
                conn.execute(
                    select(events_t.c.type)
                    .join(deliveries_t, deliveries_t.c.event_id == events_t.c.id)
                    .order_by(deliveries_t.c.id)
                ).scalars()
            )
        )

    assert await queued() == ["declaration.stalled"]
    await gateway_processor(db, CONFIG).process(
        [reply(commands[0], green_acceptance(), source="customs")]
    )
    assert await queued() == ["declaration.stalled", "declaration.in_progress"]
