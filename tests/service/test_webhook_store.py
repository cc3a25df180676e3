"""Webhook storage on a real SQLite file: the intake's inbox, leases, attempts, redelivery."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from gateway.webhooks import store
from gateway.webhooks.rules import hardening_plan
from gateway.webhooks.store import AttemptResult, deliveries_t, events_t
from schemas.envelope import Envelope, new_envelope
from schemas.messages import Figures, StatusChanged
from schemas.trade import Direction, TradeMode
from services.common.database import Database

NOW = 1_800_000_000.0
SEED = 20261122


def _status(declaration_id: str, enterprise_id: str, status: str, state: str) -> Envelope:
    return new_envelope(
        StatusChanged(
            enterprise_id=enterprise_id,
            direction=Direction.EXPORT,
            trade_mode=TradeMode.GENERAL,
            status=status,
            state=state,
            trigger="test",
            steps={},
            figures=Figures(declared_value=Decimal("1.00"), currency="USD"),
        ),
        declaration_id=declaration_id,
        source="gateway",
    )


async def _endpoint(db: Database, endpoint_id: str, enterprise_id: str, **extra: Any) -> None:
    row = {
        "id": endpoint_id,
        "enterprise_id": enterprise_id,
        "url": f"http://127.0.0.1:9/{endpoint_id}",
        "secret": f"whsec_{endpoint_id}",
        "enabled_events": ["*"],
        "hardening": False,
        "description": None,
        **extra,
    }
    await db.write(lambda conn: store.add_endpoint(conn, **row))


def _count(conn: Connection, table: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


async def _record(db: Database, batch: list[Envelope]) -> store.Recorded:
    return await db.write(
        lambda conn: store.record_status_events(conn, batch, seed=SEED, max_attempts=3, now=NOW)
    )


async def test_a_redelivered_status_message_makes_no_second_delivery(db: Database) -> None:
    await _endpoint(db, "we_a", "ent_a")
    await _endpoint(db, "we_a_ends", "ent_a", enabled_events=["declaration.completed"])
    await _endpoint(db, "we_b", "ent_b")
    batch = [
        _status("d1", "ent_a", "submitted", "customs_review"),
        _status("d1", "ent_a", "in_progress", "releasing"),
        _status("d1", "ent_a", "completed", "completed"),
    ]
    # 3 events to we_a, the completed one to we_a_ends as well; we_b (another enterprise) none.
    assert await _record(db, batch) == (4, 0)
    # The same messages again, one of them twice in the batch: nothing new, 4 duplicates.
    assert await _record(db, [*batch, batch[0]]) == (0, 4)

    def counts(conn: Connection) -> tuple[int, int, list[tuple[str, str]]]:
        pairs = conn.execute(
            select(deliveries_t.c.endpoint_id, events_t.c.type)
            .join(events_t, events_t.c.id == deliveries_t.c.event_id)
            .order_by(deliveries_t.c.id)
        )
        return _count(conn, events_t), _count(conn, deliveries_t), [tuple(p) for p in pairs]

    n_events, n_deliveries, pairs = await db.read(counts)
    assert (n_events, n_deliveries) == (3, 4)
    assert pairs == [
        ("we_a", "declaration.submitted"),
        ("we_a", "declaration.in_progress"),
        ("we_a", "declaration.completed"),
        ("we_a_ends", "declaration.completed"),
    ]


async def test_status_messages_of_enterprises_without_endpoints_store_nothing(
    db: Database,
) -> None:
    assert await _record(db, [_status("d2", "ent_quiet", "submitted", "customs_review")]) == (0, 0)
    assert await db.read(lambda conn: _count(conn, events_t)) == 0


async def test_a_hardening_endpoint_gets_the_copies_and_delays_its_plan_deals(
    db: Database,
) -> None:
    await _endpoint(db, "we_h", "ent_h", hardening=True)
    batch = [_status("d3", "ent_h", "in_progress", f"s{i}") for i in range(20)]
    plans = [hardening_plan(SEED, "we_h", e.id) for e in batch]
    assert await _record(db, batch) == (sum(len(p) for p in plans), 0)
    rows = await db.read(
        lambda conn: list(
            conn.execute(
                select(
                    deliveries_t.c.event_id,
                    deliveries_t.c.duplicate,
                    deliveries_t.c.next_attempt_at,
                )
            )
        )
    )
    stored = {(r.event_id, r.duplicate): r.next_attempt_at - NOW for r in rows}
    expected = {
        (e.id, copy): delay
        for e, plan in zip(batch, plans, strict=True)
        for copy, delay in enumerate(plan)
    }
    assert stored.keys() == expected.keys()
    assert all(abs(stored[k] - expected[k]) < 1e-6 for k in expected)


async def test_claimed_deliveries_are_leased_and_released(db: Database) -> None:
    await _endpoint(db, "we_a", "ent_a")
    await _endpoint(db, "we_c", "ent_a")
    await _record(db, [_status("d4", "ent_a", "in_progress", f"s{i}") for i in range(4)])

    async def claim(now: float, busy: tuple[str, ...] = ("we_c",)) -> list[store.Due]:
        return await db.write(
            lambda conn: store.claim_due(
                conn, now=now, busy=busy, limit=100, per_endpoint=3, lease_until=now + 9
            )
        )

    # Busy endpoints are skipped; at most 3 an endpoint are taken, earliest first.
    first = await claim(NOW)
    assert [(d.endpoint_id, d.attempt, d.declaration_id) for d in first] == [("we_a", 1, "d4")] * 3
    assert len(await claim(NOW + 1)) == 1  # the 4th, never leased; now leased until +10
    assert await claim(NOW + 8.9) == []  # nobody takes a leased delivery
    assert len(await claim(NOW + 9)) == 3  # a dead claimant's lease runs out: due again
    # What a worker did not send is released at once.
    await db.write(
        lambda conn: store.settle(conn, [], [d.delivery_id for d in first], now=NOW + 9.5)
    )
    assert len(await claim(NOW + 9.5)) == 3


async def test_attempts_move_a_delivery_to_succeeded_retry_or_failed(db: Database) -> None:
    await _endpoint(db, "we_a", "ent_a")
    await _record(db, [_status("d5", "ent_a", "completed", "completed")])

    async def take() -> store.Due:
        due = await db.write(
            lambda conn: store.claim_due(
                conn, now=NOW + 10_000, busy=(), limit=1, per_endpoint=1, lease_until=NOW
            )
        )
        return due[0]

    async def attempt(code: int | None, retry_at: float | None) -> str | None:
        due = await take()
        result = AttemptResult(NOW, 12.5, code, None if code == 200 else "HTTP 500")
        return await db.write(
            lambda conn: store.record_attempts(conn, [(due, result, retry_at)])[0]
        )

    assert await attempt(500, NOW) == "pending"
    assert await attempt(500, NOW) == "pending"
    assert await attempt(500, None) == "failed"  # the third of max_attempts=3

    def view() -> Any:
        return db.read(
            lambda conn: store.find_deliveries(conn, enterprise_id="ent_a", declaration_id="d5")
        )

    [(row, log)] = await view()
    assert (row.status, row.attempts, row.next_attempt_at, row.last_status_code) == (
        "failed",
        3,
        None,
        500,
    )
    assert [a.number for a in log] == [1, 2, 3]

    # Another enterprise cannot redeliver it; its own can, with a fresh set of attempts.
    assert not await db.write(
        lambda conn: store.redeliver(
            conn, enterprise_id="ent_b", delivery_id=row.id, now=NOW, max_attempts=3
        )
    )
    assert await db.write(
        lambda conn: store.redeliver(
            conn, enterprise_id="ent_a", delivery_id=row.id, now=NOW, max_attempts=3
        )
    )
    assert await attempt(200, None) == "succeeded"
    [(row, log)] = await view()
    assert (row.status, row.attempts, row.max_attempts) == ("succeeded", 4, 6)
    assert [a.status_code for a in log] == [500, 500, 500, 200]
    assert await db.read(lambda conn: store.find_deliveries(conn, enterprise_id="ent_b")) == []


async def test_deleting_an_endpoint_drops_its_deliveries_and_an_attempt_in_flight(
    db: Database,
) -> None:
    await _endpoint(db, "we_a", "ent_a")
    await _record(db, [_status("d6", "ent_a", "completed", "completed")])
    [due] = await db.write(
        lambda conn: store.claim_due(
            conn, now=NOW, busy=(), limit=1, per_endpoint=1, lease_until=NOW + 9
        )
    )
    assert not await db.write(
        lambda conn: store.delete_endpoint(conn, enterprise_id="ent_b", endpoint_id="we_a")
    )
    assert await db.write(
        lambda conn: store.delete_endpoint(conn, enterprise_id="ent_a", endpoint_id="we_a")
    )
    result = AttemptResult(NOW, 1.0, 200)
    assert (
        await db.write(lambda conn: store.record_attempts(conn, [(due, result, None)])[0]) is None
    )
    assert await db.read(lambda conn: _count(conn, deliveries_t)) == 0
    assert json.loads(due.body)["type"] == "declaration.completed"


async def test_a_batch_of_attempts_is_recorded_each_by_its_outcome(db: Database) -> None:
    await _endpoint(db, "we_a", "ent_a")
    await _endpoint(db, "we_b", "ent_a")
    await _record(db, [_status("d7", "ent_a", "in_progress", f"s{i}") for i in range(3)])
    taken = await db.write(
        lambda conn: store.claim_due(
            conn, now=NOW, busy=(), limit=100, per_endpoint=3, lease_until=NOW + 9
        )
    )
    to_a = [d for d in taken if d.endpoint_id == "we_a"]
    gone = next(d for d in taken if d.endpoint_id == "we_b")
    await db.write(
        lambda conn: store.delete_endpoint(conn, enterprise_id="ent_a", endpoint_id="we_b")
    )
    outcomes = [
        (to_a[0], AttemptResult(NOW, 3.5, 204), None),
        (to_a[1], AttemptResult(NOW, 4.0, 503, "HTTP 503", "busy"), NOW + 2),
        (to_a[2], AttemptResult(NOW, 5000.0, error="timeout after 5s"), None),  # the last
        (gone, AttemptResult(NOW, 1.0, 200), None),
    ]
    statuses = await db.write(lambda conn: store.settle(conn, outcomes, [], now=NOW))
    assert statuses == ["succeeded", "pending", "failed", None]
    found = {
        row.id: (row.status, row.attempts, row.next_attempt_at, row.last_status_code, log)
        for row, log in await db.read(
            lambda conn: store.find_deliveries(conn, enterprise_id="ent_a")
        )
    }
    assert set(found) == {d.delivery_id for d in to_a}  # the gone one has no row nor attempt
    for (due, result, retry_at), expected in zip(
        outcomes, ["succeeded", "pending", "failed"], strict=False
    ):
        status, attempts, next_at, code, log = found[due.delivery_id]
        assert (status, attempts, next_at, code) == (expected, 1, retry_at, result.status_code)
        [attempt] = log
        assert (attempt.number, attempt.at, attempt.duration_ms) == (1, NOW, result.duration_ms)
        assert (attempt.error, attempt.response_excerpt) == (
            result.error,
            result.response_excerpt,
        )
