"""One unit of work: record changes, inbox ids, journal lines and outbox messages, written together."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Select, select

from schemas.deadletter import DeadLetter
from schemas.envelope import Envelope
from schemas.ids import uuid7
from schemas.registry import topic_of
from schemas.topics import DEADLETTER
from services.common.database import tap_of
from services.common.db import Record
from services.common.rawsql import Driver, chunked


class VersionConflict(Exception):
    """Another writer created or changed a record, or handled a message, since this unit read
    it; the messages that met it are retried (`Changes.conflicting` names them)."""

    retriable = True


# PostgreSQL's unique violation, deadlock and serialization failure: another writer's row won.
_CONFLICT_STATES = frozenset({"23505", "40P01", "40001"})


def is_conflict(exc: BaseException) -> bool:
    """Whether a unit failed because a concurrent writer won a row (worth retrying at once):
    an error class that says it is `retriable` (VersionConflict), or the database's own."""
    if getattr(exc, "retriable", False):
        return True
    for candidate in (exc, getattr(exc, "orig", None)):
        if getattr(candidate, "sqlstate", None) in _CONFLICT_STATES:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Held:
    """A record as read from the database."""

    key: str
    owner: str
    status: str
    deadline: float | None
    version: int
    data: bytes
    created_at: float


@dataclass(frozen=True, slots=True)
class Put:
    """A record to write: new when `expected_version` is None, else an update guarded by it."""

    key: str
    status: str
    data: bytes
    owner: str = ""
    deadline: float | None = None
    expected_version: int | None = None
    created_at: float | None = None
    was: str | None = None  # the status it replaces (None: a new record), for status counts

    @classmethod
    def of(
        cls,
        key: str,
        state: BaseModel,
        *,
        status: str,
        previous: Held | None,
        owner: str = "",
        deadline: float | None = None,
    ) -> Put:
        """A put that replaces `previous` (or creates the record) with `state`."""
        return cls(
            key=key,
            status=status,
            data=state.model_dump_json().encode(),
            owner=previous.owner if previous else owner,
            deadline=deadline,
            expected_version=previous.version if previous else None,
            created_at=previous.created_at if previous else None,
            was=previous.status if previous else None,
        )

    def held(self) -> Held:
        """How the record reads once this put is written."""
        now = time.time()
        version = 1 if self.expected_version is None else self.expected_version + 1
        return Held(
            self.key,
            self.owner,
            self.status,
            self.deadline,
            version,
            self.data,
            self.created_at or now,
        )


@dataclass(frozen=True, slots=True)
class OutRow:
    """A message in the outbox: what the relay publishes."""

    message_id: str
    topic: str
    key: str
    value: bytes


def envelope_row(envelope: Envelope, value: bytes | None = None) -> OutRow:
    """The outbox row of an envelope, serialized once: `value` if it was serialized already."""
    return OutRow(
        envelope.id,
        topic_of(envelope.payload),
        envelope.payload.partition_key() or envelope.declaration_id,
        envelope.to_bytes() if value is None else value,
    )


@dataclass
class Changes:
    """Everything one transaction writes; `apply` writes it with one statement per table."""

    puts: dict[str, Put] = field(default_factory=dict)
    # Rows in the order of their INSERT's columns (below): built once, as they are written.
    inbox: list[tuple[str, bytes | None, float]] = field(default_factory=list)
    outbox: list[OutRow] = field(default_factory=list)
    journal: list[tuple[str, str, str, str, str, str, bytes]] = field(default_factory=list)
    published: list[str] = field(default_factory=list)  # outbox ids the relay has sent
    # The bytes each consumed message arrived as, by id: its journal line keeps them as they
    # came, instead of serializing the decoded envelope again.
    received: Mapping[str, bytes] = field(default_factory=dict)
    # A service's own rows, by statement: each statement runs once for all its rows.
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    # The messages whose handling wrote each record, so a conflict names the messages it hit.
    writers: dict[str, list[str]] = field(default_factory=dict)
    # The envelopes `emit` queued, decoded: a tap reads them instead of the outbox's bytes.
    emitted: list[Envelope] = field(default_factory=list)

    def add_row(self, sql: str, params: tuple[Any, ...]) -> None:
        """Write a row of a service's own table (plain SQL, `?` placeholders) with the rest."""
        self.rows.setdefault(sql, []).append(params)

    def put(self, put: Put, *, by: str | None = None) -> None:
        """Write a record (a later put of the same key in this unit replaces the earlier);
        `by`: the id of the message whose handling wrote it."""
        if by is not None:
            self.writers.setdefault(put.key, []).append(by)
        earlier = self.puts.get(put.key)
        if earlier is not None:
            # Keep the guard of the first read: that is the version in the database.
            put = Put(
                put.key,
                put.status,
                put.data,
                put.owner,
                put.deadline,
                earlier.expected_version,
                earlier.created_at,
                earlier.was,
            )
        self.puts[put.key] = put

    def handled(
        self, envelope: Envelope, replies: Sequence[bytes] | None, *, journal: bool = True
    ) -> None:
        """Mark a consumed message handled, remembering the replies it caused."""
        blob = b"[" + b",".join(replies) + b"]" if replies else None
        self.inbox.append((envelope.id, blob, time.time()))
        if journal:
            self.log(envelope, "in")

    def emit(
        self,
        envelope: Envelope,
        *,
        journal: bool = True,
        value: bytes | None = None,
        at: float | None = None,
    ) -> bytes:
        """Queue an envelope for publication; returns its bytes.

        `value`: its serialization (`Envelope.to_bytes()`) if the caller has it already.
        `at`: when it is sent, for a re-send of an envelope made earlier."""
        row = envelope_row(envelope, value)
        self.outbox.append(row)
        self.emitted.append(envelope)
        if journal:
            self.log(envelope, "out", row.value, at=at)
        return row.value

    def emit_raw(self, rows: Iterable[OutRow]) -> None:
        """Queue already-serialized messages (a replay of earlier replies)."""
        self.outbox.extend(rows)

    def dead_letter(self, letter: DeadLetter) -> None:
        """Queue a dead letter, published like any other message."""
        value = letter.model_dump_json().encode()
        self.outbox.append(OutRow(uuid7(), DEADLETTER, letter.key or "", value))

    def log(
        self,
        envelope: Envelope,
        direction: str,
        value: bytes | None = None,
        *,
        at: float | None = None,
    ) -> None:
        """Add a journal line for a message of a declaration.

        The line's time is `at` if given (a re-send's line: the envelope keeps its first time)."""
        when = envelope.occurred_at if at is None else datetime.fromtimestamp(at, UTC)
        self.journal.append(
            (
                envelope.declaration_id,
                envelope.id,
                direction,
                envelope.type,
                envelope.source,
                when.isoformat(),
                value or self.received.get(envelope.id) or envelope.to_bytes(),
            )
        )

    def merge(self, other: Changes) -> None:
        """Take in another unit's changes, to be written by one `apply` with these."""
        for put in other.puts.values():
            self.put(put)
        self.inbox.extend(other.inbox)
        self.outbox.extend(other.outbox)
        self.journal.extend(other.journal)
        self.published.extend(other.published)
        self.emitted.extend(other.emitted)
        for sql, params in other.rows.items():
            self.rows.setdefault(sql, []).extend(params)
        for key, messages in other.writers.items():
            self.writers.setdefault(key, []).extend(messages)

    def apply(self, conn: Connection) -> list[OutRow]:
        """Write everything in the caller's transaction; return the outbox rows written.

        Nothing serializes writers on PostgreSQL: the inbox's primary key and the records'
        keys and versions are the guards, and a row another writer won raises VersionConflict.
        Rows are written in key order, so two writers lock shared rows in the same order.
        The Database's tap (if any) sees the changes first and may add rows of its own.
        """
        tap = tap_of(conn)
        if tap is not None and self.outbox:
            tap(conn, self)
        now = time.time()
        db = Driver(conn)
        inbox = sorted(self.inbox)
        _every(
            db,
            "INSERT INTO inbox (message_id, replies, processed_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            inbox,
            "message(s) handled",
        )
        puts = sorted(self.puts.values(), key=lambda p: p.key)
        new = [
            (p.key, p.owner, p.status, p.deadline, p.data, now, now)
            for p in puts
            if p.expected_version is None
        ]
        _every(
            db,
            "INSERT INTO records (key, owner, status, deadline, version, data, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT DO NOTHING",
            new,
            "record(s) created",
        )
        old = [
            (p.status, p.deadline, p.data, now, p.key, p.expected_version)
            for p in puts
            if p.expected_version is not None
        ]
        _every(
            db,
            "UPDATE records SET status = ?, deadline = ?, data = ?, version = version + 1, "
            "updated_at = ? WHERE key = ? AND version = ?",
            old,
            "record(s) changed",
        )
        db.many(
            "INSERT INTO outbox (message_id, topic, key, value, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(r.message_id, r.topic, r.key, r.value, now) for r in self.outbox],
        )
        db.many(
            "INSERT INTO journal (declaration_id, message_id, direction, type, source, "
            "occurred_at, envelope) VALUES (?, ?, ?, ?, ?, ?, ?)",
            self.journal,
        )
        for sql, params in self.rows.items():
            db.many(sql, params)
        if self.published:
            delete_sent(conn, self.published)
        return self.outbox

    def conflicting(self, conn: Connection) -> set[str]:
        """After a conflict was rolled back: the messages of this unit that met another
        writer's row, and those that built on their records. Empty when no row tells (a
        deadlock, a service's own table): then every message is retried."""
        ids = [row[0] for row in self.inbox]
        hit = set(seen_messages(conn, ids))
        now_held = load_records(conn, self.puts)
        keys = {
            key
            for key, put in self.puts.items()
            if (now_held[key].version if key in now_held else None) != put.expected_version
        }
        while True:
            hit.update(m for key in keys for m in self.writers.get(key, ()))
            more = {k for k, by in self.writers.items() if k not in keys and hit.intersection(by)}
            if not more:
                return hit
            keys |= more


def _every(db: Driver, sql: str, rows: Sequence[Sequence[Any]], what: str) -> None:
    """Write every row, or raise VersionConflict: another writer took the rest first."""
    written = db.many(sql, rows)
    if written != len(rows):
        raise VersionConflict(f"{len(rows) - written} {what} concurrently")


def select_held() -> Select[Any]:
    """A SELECT of the record columns a `Held` is made from, in its field order."""
    table = Record.__table__  # type: ignore[attr-defined]
    return select(*(table.c[f] for f in Held.__dataclass_fields__))


_HELD = ", ".join(Held.__dataclass_fields__)


def load_records(conn: Connection, keys: Iterable[str]) -> dict[str, Held]:
    """The records of these keys, in as few queries as the keys allow."""
    db = Driver(conn)
    wanted = list(dict.fromkeys(keys))
    held: dict[str, Held] = {}
    for chunk, in_list in chunked(wanted):
        for row in db.rows(f"SELECT {_HELD} FROM records WHERE key IN ({in_list})", chunk):
            found = Held(*row)
            held[found.key] = found
    return held


def seen_messages(conn: Connection, ids: Sequence[str]) -> dict[str, bytes | None]:
    """Which of these message ids were handled before, with the replies stored for each."""
    db = Driver(conn)
    seen: dict[str, bytes | None] = {}
    for chunk, in_list in chunked(ids):
        sql = f"SELECT message_id, replies FROM inbox WHERE message_id IN ({in_list})"
        seen.update((message_id, _bytes(replies)) for message_id, replies in db.rows(sql, chunk))
    return seen


def _bytes(value: Any) -> bytes | None:
    """A binary column as bytes, whatever the driver hands back (memoryview or bytes)."""
    return None if value is None else bytes(value)


def replayed_rows(replies: bytes) -> list[OutRow]:
    """The outbox rows of replies stored in the inbox, ready to publish again unchanged."""
    rows = []
    for raw in json.loads(replies):
        value = json.dumps(raw, separators=(",", ":")).encode()
        rows.append(envelope_row(Envelope.model_validate(raw), value))
    return rows


def delete_sent(conn: Connection, ids: Sequence[str]) -> None:
    """Remove published messages from the outbox."""
    db = Driver(conn)
    for chunk, in_list in chunked(ids):
        db.run(f"DELETE FROM outbox WHERE message_id IN ({in_list})", chunk)
