"""The webhook tables of the gateway's database, and keyword-only queries on them.

webhook_events' primary key is the id of the status message, so a status message recorded
again finds its row and creates nothing. webhook_deliveries has one row per (endpoint, event,
duplicate), unique, so nothing is ever queued twice by accident; duplicate 1 exists only for
hardening endpoints that were dealt a second copy. webhook_endpoints_version counts the
changes of endpoints, so a cache of them knows when to read them again (gateway/webhooks/recorder.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy import (
    Column,
    Connection,
    Index,
    LargeBinary,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy import update as sql_update
from sqlmodel import Field, SQLModel

from gateway.webhooks.rules import Subscriber, event_body, event_type, hardening_plan, recipients
from schemas.envelope import Envelope
from schemas.ids import uuid7
from schemas.messages import StatusChanged
from services.common.rawsql import CHUNK, Driver, chunked, marks


class WebhookEndpoint(SQLModel, table=True):
    """A URL an enterprise wants its declarations' events posted to, with its signing secret."""

    __tablename__ = "webhook_endpoints"
    id: str = Field(primary_key=True)
    enterprise_id: str = Field(index=True)
    url: str
    # Stored as is: the sender needs it to sign. It leaves the gateway once, in the 201.
    secret: str
    enabled_events: str  # JSON list
    hardening: bool = False
    description: str | None = None
    created_at: float


class WebhookEndpointsVersion(SQLModel, table=True):
    """One row, bumped in the transaction of every endpoint change: what caches compare."""

    __tablename__ = "webhook_endpoints_version"
    id: int = Field(primary_key=True)  # always 1
    version: int


class WebhookEvent(SQLModel, table=True):
    """One status change as an event: the body every delivery of it sends."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_declaration", "declaration_id"),)
    id: str = Field(primary_key=True)  # the status message's id
    enterprise_id: str
    declaration_id: str
    type: str
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: float


class WebhookDelivery(SQLModel, table=True):
    """One event to one endpoint: pending until a 2xx, failed after the last attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", "duplicate", name="uq_webhook_delivery"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )
    id: str = Field(primary_key=True)  # UUIDv7: sorts in creation order
    event_id: str = Field(index=True)
    endpoint_id: str
    enterprise_id: str
    declaration_id: str
    duplicate: int = 0  # 1 for the extra copy a hardening endpoint was dealt
    status: str  # pending | succeeded | failed
    attempts: int = 0
    max_attempts: int
    next_attempt_at: float | None
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: float
    updated_at: float


class WebhookAttempt(SQLModel, table=True):
    """One POST of a delivery: when, what came back, how long it took."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "number"),)
    seq: int | None = Field(default=None, primary_key=True)
    delivery_id: str
    number: int
    at: float
    status_code: int | None = None
    error: str | None = None
    duration_ms: float
    response_excerpt: str | None = None


WEBHOOK_TABLES = [
    WebhookEndpoint.__table__,  # type: ignore[attr-defined]
    WebhookEvent.__table__,  # type: ignore[attr-defined]
    WebhookDelivery.__table__,  # type: ignore[attr-defined]
    WebhookAttempt.__table__,  # type: ignore[attr-defined]
    WebhookEndpointsVersion.__table__,  # type: ignore[attr-defined]
]
endpoints_t, events_t, deliveries_t, attempts_t, _ = WEBHOOK_TABLES


# --- endpoints ---------------------------------------------------------------------------------


def add_endpoint(conn: Connection, **row: Any) -> dict[str, Any]:
    """Store a new endpoint; returns its row."""
    row = {
        **row,
        "enabled_events": json.dumps(list(row["enabled_events"])),
        "created_at": time.time(),
    }
    conn.execute(endpoints_t.insert(), row)
    _bump_version(conn)
    return row


def list_endpoints(conn: Connection, *, enterprise_id: str) -> list[Any]:
    """An enterprise's endpoints, oldest first."""
    stmt = select(endpoints_t).where(endpoints_t.c.enterprise_id == enterprise_id)
    return list(conn.execute(stmt.order_by(endpoints_t.c.created_at, endpoints_t.c.id)))


def get_endpoint(conn: Connection, *, enterprise_id: str, endpoint_id: str) -> Any | None:
    """One endpoint of the enterprise (another enterprise's is as absent as a missing one)."""
    return conn.execute(
        select(endpoints_t).where(
            endpoints_t.c.id == endpoint_id, endpoints_t.c.enterprise_id == enterprise_id
        )
    ).first()


def delete_endpoint(conn: Connection, *, enterprise_id: str, endpoint_id: str) -> bool:
    """Remove an endpoint with its deliveries and their attempts; False if it is not there."""
    if get_endpoint(conn, enterprise_id=enterprise_id, endpoint_id=endpoint_id) is None:
        return False
    ids = select(deliveries_t.c.id).where(deliveries_t.c.endpoint_id == endpoint_id)
    conn.execute(delete(attempts_t).where(attempts_t.c.delivery_id.in_(ids)))
    conn.execute(delete(deliveries_t).where(deliveries_t.c.endpoint_id == endpoint_id))
    conn.execute(delete(endpoints_t).where(endpoints_t.c.id == endpoint_id))
    _bump_version(conn)
    return True


def _bump_version(conn: Connection) -> None:
    Driver(conn).run(
        "INSERT INTO webhook_endpoints_version (id, version) VALUES (1, 1) ON CONFLICT (id) "
        "DO UPDATE SET version = webhook_endpoints_version.version + 1"
    )


def endpoints_version(conn: Connection) -> int:
    """How many times endpoints have changed (0: never): one row read by its key."""
    rows = Driver(conn).rows("SELECT version FROM webhook_endpoints_version WHERE id = 1")
    return int(rows[0][0]) if rows else 0


def subscribers(conn: Connection, enterprise_ids: Iterable[str]) -> list[Subscriber]:
    """The endpoints of these enterprises, as the routing rule sees them."""
    wanted = sorted(set(enterprise_ids))
    found: list[Subscriber] = []
    for i in range(0, len(wanted), CHUNK):
        rows = conn.execute(
            select(
                endpoints_t.c.id,
                endpoints_t.c.enterprise_id,
                endpoints_t.c.enabled_events,
                endpoints_t.c.hardening,
            ).where(endpoints_t.c.enterprise_id.in_(wanted[i : i + CHUNK]))
        )
        found.extend(
            Subscriber(r.id, r.enterprise_id, tuple(json.loads(r.enabled_events)), r.hardening)
            for r in rows
        )
    return found


# --- recording status changes ------------------------------------------------------------------


class Recorded(NamedTuple):
    """What recording a batch of status messages made."""

    deliveries: int  # deliveries queued
    duplicates: int  # status messages recorded before (the same message again), skipped


# The endpoints of these enterprises (a cache of them, gateway/webhooks/recorder.py), or None to read.
Subscribers = Callable[[Connection, Iterable[str]], list[Subscriber]]

_EVENT_COLUMNS = "id, enterprise_id, declaration_id, type, body, created_at"
_DELIVERY_COLUMNS = (
    "id, event_id, endpoint_id, enterprise_id, declaration_id, duplicate, status, attempts, "
    "max_attempts, next_attempt_at, created_at, updated_at"
)


def record_status_events(
    conn: Connection,
    batch: Sequence[Envelope],
    *,
    seed: int,
    max_attempts: int,
    now: float,
    endpoints: Subscribers = subscribers,
) -> Recorded:
    """Turn status messages into events and the deliveries they cause, in the caller's
    transaction (the one that writes the status messages: gateway/webhooks/recorder.py).

    A message nobody subscribed to is skipped without a query of its own; so is one recorded
    before. Plain SQL to the driver: this runs inside the saga's hot transactions.
    """
    statuses = [(e, e.payload) for e in batch if isinstance(e.payload, StatusChanged)]
    if not statuses:
        return Recorded(0, 0)
    found = endpoints(conn, {status.enterprise_id for _, status in statuses})
    if not found:
        return Recorded(0, 0)
    wanted: list[tuple[Envelope, StatusChanged, str, list[Subscriber]]] = []
    for envelope, status in statuses:
        kind = event_type(status.status)
        to = recipients(found, enterprise_id=status.enterprise_id, kind=kind)
        if to:
            wanted.append((envelope, status, kind, to))
    items = [
        (
            Queued(
                envelope.id,
                status.enterprise_id,
                envelope.declaration_id,
                kind,
                partial(
                    event_body,
                    envelope.id,
                    envelope.occurred_at.isoformat(),
                    envelope.declaration_id,
                    status,
                ),
            ),
            to,
        )
        for envelope, status, kind, to in wanted
    ]
    events, deliveries = _queue(conn, items, seed=seed, max_attempts=max_attempts, now=now)
    return Recorded(deliveries, len(wanted) - events)


class Queued(NamedTuple):
    """An event to queue: its id, whose, of which declaration, its type and body (or what
    makes it: made only for an event not recorded before)."""

    id: str
    enterprise_id: str
    declaration_id: str
    type: str
    body: bytes | Callable[[], bytes]


def queue_events(
    conn: Connection,
    items: Sequence[Queued],
    *,
    seed: int,
    max_attempts: int,
    now: float,
    endpoints: Subscribers = subscribers,
) -> int:
    """Record events of any type (e.g. `ceb.receipt`) and a delivery to each endpoint
    subscribed to it, in the caller's transaction; the deliveries queued."""
    if not items:
        return 0
    found = endpoints(conn, {item.enterprise_id for item in items})
    routed = [
        (item, to)
        for item in items
        if (to := recipients(found, enterprise_id=item.enterprise_id, kind=item.type))
    ]
    return _queue(conn, routed, seed=seed, max_attempts=max_attempts, now=now)[1]


def _queue(
    conn: Connection,
    items: Sequence[tuple[Queued, Sequence[Subscriber]]],
    *,
    seed: int,
    max_attempts: int,
    now: float,
) -> tuple[int, int]:
    """Insert the events not recorded before and their deliveries; (events, deliveries)."""
    db = Driver(conn)
    seen: set[str] = set()
    ids = [item.id for item, _ in items]
    for chunk, in_chunk in chunked(ids):
        sql = f"SELECT id FROM webhook_events WHERE id IN ({in_chunk})"
        seen.update(row[0] for row in db.rows(sql, chunk))
    events: list[tuple[Any, ...]] = []
    deliveries: list[tuple[Any, ...]] = []
    for item, to in items:
        if item.id in seen:
            continue
        seen.add(item.id)
        body = item.body if isinstance(item.body, bytes) else item.body()
        events.append((item.id, item.enterprise_id, item.declaration_id, item.type, body, now))
        for endpoint in to:
            plan = hardening_plan(seed, endpoint.id, item.id) if endpoint.hardening else (0.0,)
            for duplicate, delay in enumerate(plan):
                deliveries.append(
                    (
                        uuid7(),
                        item.id,
                        endpoint.id,
                        item.enterprise_id,
                        item.declaration_id,
                        duplicate,
                        "pending",
                        0,
                        max_attempts,
                        now + delay,
                        now,
                        now,
                    )
                )
    db.many(
        f"INSERT INTO webhook_events ({_EVENT_COLUMNS}) VALUES ({marks(6)}) ON CONFLICT DO NOTHING",
        events,
    )
    db.many(
        f"INSERT INTO webhook_deliveries ({_DELIVERY_COLUMNS}) VALUES ({marks(12)}) "
        "ON CONFLICT DO NOTHING",
        deliveries,
    )
    return len(events), len(deliveries)


# --- the sender --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery whose next attempt is due, with what it takes to make it."""

    delivery_id: str
    endpoint_id: str
    url: str
    secret: str
    event_id: str
    event_type: str
    body: bytes
    declaration_id: str
    attempt: int  # the number this attempt will have
    max_attempts: int


def claim_due(
    conn: Connection,
    *,
    now: float,
    busy: Iterable[str],
    limit: int,
    per_endpoint: int,
    lease_until: float,
) -> list[Due]:
    """Take the pending deliveries due by `now`, earliest first, at most `per_endpoint` each.

    Endpoints in `busy` (being served by this process) are skipped. What is taken is leased
    until `lease_until`: its next attempt moves there, so another gateway process sharing the
    database leaves it alone, and if this process dies holding it, it falls due again then.
    Recording the attempt (or releasing what was not attempted) replaces the lease.
    """
    stmt = (
        select(
            deliveries_t.c.id,
            deliveries_t.c.endpoint_id,
            endpoints_t.c.url,
            endpoints_t.c.secret,
            deliveries_t.c.event_id,
            events_t.c.type,
            events_t.c.body,
            deliveries_t.c.declaration_id,
            deliveries_t.c.attempts,
            deliveries_t.c.max_attempts,
        )
        .join(endpoints_t, endpoints_t.c.id == deliveries_t.c.endpoint_id)
        .join(events_t, events_t.c.id == deliveries_t.c.event_id)
        .where(deliveries_t.c.status == "pending", deliveries_t.c.next_attempt_at <= now)
        .order_by(deliveries_t.c.next_attempt_at, deliveries_t.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=deliveries_t)
    )
    busy = set(busy)
    if busy:
        stmt = stmt.where(deliveries_t.c.endpoint_id.not_in(busy))
    taken: list[Due] = []
    queued: dict[str, int] = {}
    for r in conn.execute(stmt):
        if queued.get(r.endpoint_id, 0) >= per_endpoint:
            continue
        queued[r.endpoint_id] = queued.get(r.endpoint_id, 0) + 1
        taken.append(Due(*r[:8], attempt=r.attempts + 1, max_attempts=r.max_attempts))
    ids = [d.delivery_id for d in taken]
    for i in range(0, len(ids), CHUNK):
        conn.execute(
            sql_update(deliveries_t)
            .where(deliveries_t.c.id.in_(ids[i : i + CHUNK]))
            .values(next_attempt_at=lease_until)
        )
    return taken


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one POST came to."""

    at: float
    duration_ms: float
    status_code: int | None = None
    error: str | None = None
    response_excerpt: str | None = None

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300


def record_attempts(
    conn: Connection, outcomes: Sequence[tuple[Due, AttemptResult, float | None]]
) -> list[str | None]:
    """Log a batch's attempts and move their deliveries on; returns each delivery's new status.

    Each outcome holds `retry_at`, when to try again after a failure (None when that was the
    last attempt). A delivery's status is None when it is gone (its endpoint was deleted
    meanwhile): it gets no attempt row. Three statements for the whole batch, sent straight to
    the driver: which deliveries are still there, then one UPDATE and one INSERT executed for
    many rows. The write transaction is the database's only writer (SQLite's immediate
    transaction, PostgreSQL's writer lock), so what the SELECT found is there for the UPDATE.
    """
    db = Driver(conn)
    ids = [due.delivery_id for due, _, _ in outcomes]
    present: set[str] = set()
    for chunk, in_chunk in chunked(ids):
        sql = f"SELECT id FROM webhook_deliveries WHERE id IN ({in_chunk})"
        present.update(row[0] for row in db.rows(sql, chunk))
    now = time.time()
    statuses: list[str | None] = []
    moves: list[tuple[Any, ...]] = []
    attempts: list[tuple[Any, ...]] = []
    for due, result, retry_at in outcomes:
        if due.delivery_id not in present:
            statuses.append(None)
            continue
        status = "succeeded" if result.ok else ("pending" if retry_at is not None else "failed")
        statuses.append(status)
        next_at = retry_at if status == "pending" else None
        moves.append((status, next_at, result.status_code, result.error, now, due.delivery_id))
        attempts.append(
            (
                due.delivery_id,
                due.attempt,
                result.at,
                result.status_code,
                result.error,
                result.duration_ms,
                result.response_excerpt,
            )
        )
    db.many(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?, next_attempt_at = ?,"
        " last_status_code = ?, last_error = ?, updated_at = ? WHERE id = ?",
        moves,
    )
    db.many(
        "INSERT INTO webhook_attempts (delivery_id, number, at, status_code, error, duration_ms,"
        " response_excerpt) VALUES (?, ?, ?, ?, ?, ?, ?)",
        attempts,
    )
    return statuses


def settle(
    conn: Connection,
    outcomes: Sequence[tuple[Due, AttemptResult, float | None]],
    unsent: Sequence[str],
    *,
    now: float,
) -> list[str | None]:
    """Record a batch's attempts (each with its retry time) and release what it did not send."""
    statuses = record_attempts(conn, outcomes)
    for i in range(0, len(unsent), CHUNK):
        conn.execute(
            sql_update(deliveries_t)
            .where(deliveries_t.c.id.in_(unsent[i : i + CHUNK]), deliveries_t.c.status == "pending")
            .values(next_attempt_at=now)
        )
    return statuses


# --- the delivery log --------------------------------------------------------------------------


def find_deliveries(
    conn: Connection,
    *,
    enterprise_id: str,
    endpoint_id: str | None = None,
    declaration_id: str | None = None,
    event_id: str | None = None,
    status: str | None = None,
    delivery_id: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> list[tuple[Any, list[Any]]]:
    """The enterprise's deliveries matching the filters, oldest first, each with its attempts."""
    stmt = (
        select(deliveries_t, events_t.c.type)
        .join(events_t, events_t.c.id == deliveries_t.c.event_id)
        .where(deliveries_t.c.enterprise_id == enterprise_id)
    )
    for column, value in (
        (deliveries_t.c.endpoint_id, endpoint_id),
        (deliveries_t.c.declaration_id, declaration_id),
        (deliveries_t.c.event_id, event_id),
        (deliveries_t.c.status, status),
        (deliveries_t.c.id, delivery_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if after is not None:
        stmt = stmt.where(deliveries_t.c.id > after)
    rows = list(conn.execute(stmt.order_by(deliveries_t.c.id).limit(limit)))
    log: dict[str, list[Any]] = {r.id: [] for r in rows}
    ids = list(log)
    for i in range(0, len(ids), CHUNK):
        for a in conn.execute(
            select(attempts_t)
            .where(attempts_t.c.delivery_id.in_(ids[i : i + CHUNK]))
            .order_by(attempts_t.c.delivery_id, attempts_t.c.number, attempts_t.c.seq)
        ):
            log[a.delivery_id].append(a)
    return [(r, log[r.id]) for r in rows]


def redeliver(
    conn: Connection, *, enterprise_id: str, delivery_id: str, now: float, max_attempts: int
) -> bool:
    """Queue a delivery again at once, with a fresh set of attempts; False if it is not there."""
    changed = conn.execute(
        sql_update(deliveries_t)
        .where(deliveries_t.c.id == delivery_id, deliveries_t.c.enterprise_id == enterprise_id)
        .values(
            status="pending",
            next_attempt_at=now,
            max_attempts=deliveries_t.c.attempts + max_attempts,
            updated_at=now,
        )
    )
    return changed.rowcount > 0


def purge_declarations(conn: Connection, declaration_ids: Sequence[str]) -> None:
    """Remove the events, deliveries and attempts of declarations past their retention."""
    db = Driver(conn)
    ids = list(declaration_ids)
    for chunk, in_chunk in chunked(ids):
        events = f"SELECT id FROM webhook_events WHERE declaration_id IN ({in_chunk})"
        deliveries = f"SELECT id FROM webhook_deliveries WHERE event_id IN ({events})"
        db.run(f"DELETE FROM webhook_attempts WHERE delivery_id IN ({deliveries})", chunk)
        db.run(f"DELETE FROM webhook_deliveries WHERE event_id IN ({events})", chunk)
        db.run(f"DELETE FROM webhook_events WHERE declaration_id IN ({in_chunk})", chunk)
