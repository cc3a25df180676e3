"""Retention on real databases: what a purge round removes, what it keeps, who runs it."""

from __future__ import annotations

import random

from sqlalchemy import Connection

from gateway.app import purge_declarations
from gateway.saga import TERMINAL
from services.common.database import Database
from services.common.metrics import Metrics
from services.common.rawsql import Driver
from services.common.retention import (
    Policy,
    Retention,
    past_retention,
    purge_round,
    uuid7_floor,
    uuid7_time,
)

DAY = 86400.0
NOW = 1_790_000_000.0  # 2026-09-21, a fixed "now" so every age below is exact


def made_at(at: float) -> str:
    """A UUIDv7 string made at `at` seconds (random bits from a fixed generator)."""
    rand = random.Random(at).getrandbits(74)
    value = (
        int(at * 1000) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & (2**62 - 1))
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def test_uuid7_times_round_trip_and_floors_sort_below_every_later_id() -> None:
    ten_days_ago = made_at(NOW - 10 * DAY)
    assert uuid7_time(ten_days_ago) == NOW - 10 * DAY
    assert uuid7_floor(NOW - 10 * DAY) <= ten_days_ago < uuid7_floor(NOW - 9 * DAY)
    assert uuid7_time("ent_demo") is None  # not a declaration id
    assert uuid7_time("6f1c0f6e-5d1b-4c3a-9a1e-0a2b3c4d5e6f") is None  # a UUIDv4


def test_an_id_is_past_retention_only_when_made_before_the_period() -> None:
    # Retention 7 days: an id made 8 days ago is past it (a 410 if not held), one made 6 days
    # ago is not (a 404 if not held), and a reference that is no UUIDv7 never is.
    assert past_retention(made_at(NOW - 8 * DAY), 7 * DAY, now=NOW)
    assert not past_retention(made_at(NOW - 6 * DAY), 7 * DAY, now=NOW)
    assert not past_retention("my-order-42", 7 * DAY, now=NOW)


def _insert(conn: Connection, key: str, status: str, updated_at: float) -> None:
    db = Driver(conn)
    db.run(
        "INSERT INTO records (key, owner, status, deadline, version, data, created_at, "
        "updated_at) VALUES (?, 'ent', ?, NULL, 1, ?, ?, ?)",
        (key, status, b"{}", updated_at, updated_at),
    )
    db.run(
        "INSERT INTO journal (declaration_id, message_id, direction, type, source, "
        "occurred_at, envelope) VALUES (?, ?, 'in', 't', 's', '', ?)",
        (key, made_at(updated_at), b"{}"),
    )


def _keys(conn: Connection, sql: str) -> set[str]:
    return {str(k) for (k,) in Driver(conn).rows(sql)}


async def test_a_round_purges_ended_declarations_past_retention_and_keeps_the_rest(
    db: Database,
) -> None:
    old_done = made_at(NOW - 10 * DAY)  # made 10 days ago, completed 9 days ago: purged
    old_stalled = made_at(NOW - 10 * DAY + 1)  # stalled 9 days ago: not ended, kept
    old_late = made_at(NOW - 10 * DAY + 2)  # made 10 days ago, completed 1 day ago: kept
    recent = made_at(NOW - 1 * DAY)  # completed yesterday: kept
    old_inbox, new_inbox = made_at(NOW - 8 * DAY), made_at(NOW - 6 * DAY)

    def seed(conn: Connection) -> None:
        _insert(conn, old_done, "completed", NOW - 9 * DAY)
        _insert(conn, old_stalled, "stalled", NOW - 9 * DAY)
        _insert(conn, old_late, "completed", NOW - 1 * DAY)
        _insert(conn, recent, "completed", NOW - 1 * DAY)
        _insert(conn, "serial:5316", "completed", NOW - 30 * DAY)  # standing state: kept
        db_ = Driver(conn)
        db_.run(
            "INSERT INTO declaration_references (enterprise_id, reference, declaration_id) "
            "VALUES ('ent', 'PO-1', ?)",
            (old_done,),
        )
        for message_id in (old_inbox, new_inbox):
            db_.run(
                "INSERT INTO inbox (message_id, replies, processed_at) VALUES (?, NULL, ?)",
                (message_id, NOW),
            )

    await db.write(seed)
    policy = Policy(
        retention_s=7 * DAY,
        inbox_window_s=7 * DAY,
        final_statuses=TERMINAL,
        purge_rows=purge_declarations,
    )
    done = await db.write(lambda conn: purge_round(conn, policy, now=NOW))
    assert (done.records, done.journal, done.inbox) == (1, 1, 1)

    def left(conn: Connection) -> tuple[set[str], set[str], set[str], set[str]]:
        return (
            _keys(conn, "SELECT key FROM records"),
            _keys(conn, "SELECT declaration_id FROM journal"),
            _keys(conn, "SELECT message_id FROM inbox"),
            _keys(conn, "SELECT declaration_id FROM declaration_references"),
        )

    records, journal, inbox, references = await db.read(left)
    assert records == {old_stalled, old_late, recent, "serial:5316"}
    assert journal == {old_stalled, old_late, recent, "serial:5316"}
    assert inbox == {new_inbox}
    assert references == set()
    # A second round finds nothing more to do.
    again = await db.write(lambda conn: purge_round(conn, policy, now=NOW))
    assert not again


async def test_an_agency_purges_any_status_and_rounds_stop_at_their_limit(db: Database) -> None:
    keys = [made_at(NOW - 20 * DAY + i) for i in range(5)]

    def seed(conn: Connection) -> None:
        for key in keys:
            _insert(conn, key, "800", NOW - 19 * DAY)  # released, never closed: still purged

    await db.write(seed)
    policy = Policy(retention_s=7 * DAY, inbox_window_s=7 * DAY)  # an agency: any status
    first = await db.write(lambda conn: purge_round(conn, policy, now=NOW, limit=3))
    second = await db.write(lambda conn: purge_round(conn, policy, now=NOW, limit=3))
    assert (first.records, second.records) == (3, 2)
    assert await db.read(lambda conn: _keys(conn, "SELECT key FROM records")) == set()


async def test_replicas_share_the_rounds_one_runs_each_period(db: Database) -> None:
    """Two replicas of a service, each with its own connection to the one database: in each
    period exactly one claims the round and purges; the other finds it taken."""
    other = Database(db.engine.url.render_as_string(hide_password=False), name="replica-2")
    try:
        key = made_at(NOW - 10 * DAY)
        await db.write(lambda conn: _insert(conn, key, "completed", NOW - 9 * DAY))
        policy = Policy(retention_s=7 * DAY, inbox_window_s=7 * DAY, final_statuses=TERMINAL)
        jobs = [
            Retention(db=d, policy=policy, metrics=Metrics("gateway"), every_s=3600, holder=h)
            for d, h in ((db, "a"), (other, "b"))
        ]
        first = await jobs[0].run_once()
        second = await jobs[1].run_once()
        assert first.records == 1
        assert second.records == 0 and not second
        held = await db.read(
            lambda conn: Driver(conn).rows(
                "SELECT holder FROM maintenance WHERE name = ?", ["retention"]
            )
        )
        assert [h for (h,) in held] == ["a"]
        assert jobs[0].metrics.purged.labels("records")._value.get() == 1
    finally:
        other.dispose()
