"""One unit of work: record changes, inbox ids, journal lines and outbox messages, written together."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Select, bindparam, delete, select, update

from schemas.deadletter import DeadLetter
from schemas.envelope import Envelope
from schemas.ids import uuid7
from schemas.registry import topic_of
from schemas.topics import DEADLETTER
from services.common.db import Inbox, Journal, Outbox, Record, insert_ignoring_duplicates

CHUNK = 500


class VersionConflict(Exception):
    """Another writer changed a record since it was read; the whole unit is retried."""

    retriable = True


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


def envelope_row(envelope: Envelope) -> OutRow:
    """The outbox row of an envelope, serialized once."""
    return OutRow(
        envelope.id, topic_of(envelope.payload), envelope.declaration_id, envelope.to_bytes()
    )


@dataclass
class Changes:
    """Everything one transaction writes; `apply` writes it with one statement per table."""

    puts: dict[str, Put] = field(default_factory=dict)
    inbox: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[OutRow] = field(default_factory=list)
    journal: list[dict[str, Any]] = field(default_factory=list)
    published: list[str] = field(default_factory=list)  # outbox ids the relay has sent

    def put(self, put: Put) -> None:
        """Write a record (a later put of the same key in this unit replaces the earlier)."""
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
            )
        self.puts[put.key] = put

    def handled(
        self, envelope: Envelope, replies: Sequence[bytes] | None, *, journal: bool = True
    ) -> None:
        """Mark a consumed message handled, remembering the replies it caused."""
        blob = b"[" + b",".join(replies) + b"]" if replies else None
        self.inbox.append({"message_id": envelope.id, "replies": blob, "processed_at": time.time()})
        if journal:
            self.log(envelope, "in")

    def emit(self, envelope: Envelope, *, journal: bool = True) -> bytes:
        """Queue an envelope for publication; returns its bytes."""
        row = envelope_row(envelope)
        self.outbox.append(row)
        if journal:
            self.log(envelope, "out", row.value)
        return row.value

    def emit_raw(self, rows: Iterable[OutRow]) -> None:
        """Queue already-serialized messages (a replay of earlier replies)."""
        self.outbox.extend(rows)

    def dead_letter(self, letter: DeadLetter) -> None:
        """Queue a dead letter, published like any other message."""
        value = letter.model_dump_json().encode()
        self.outbox.append(OutRow(uuid7(), DEADLETTER, letter.key or "", value))

    def log(self, envelope: Envelope, direction: str, value: bytes | None = None) -> None:
        """Add a journal line for a message of a declaration."""
        self.journal.append(
            {
                "declaration_id": envelope.declaration_id,
                "message_id": envelope.id,
                "direction": direction,
                "type": envelope.type,
                "source": envelope.source,
                "occurred_at": envelope.occurred_at.isoformat(),
                "envelope": value if value is not None else envelope.to_bytes(),
            }
        )

    def merge(self, other: Changes) -> None:
        """Take in another unit's changes, to be written by one `apply` with these."""
        for put in other.puts.values():
            self.put(put)
        self.inbox.extend(other.inbox)
        self.outbox.extend(other.outbox)
        self.journal.extend(other.journal)
        self.published.extend(other.published)

    def apply(self, conn: Connection) -> list[OutRow]:
        """Write everything in the caller's transaction; return the outbox rows written."""
        now = time.time()
        if self.inbox:
            conn.execute(insert_ignoring_duplicates(conn, Inbox.__table__), self.inbox)  # type: ignore[attr-defined]
        new = [p for p in self.puts.values() if p.expected_version is None]
        old = [p for p in self.puts.values() if p.expected_version is not None]
        if new:
            conn.execute(
                Record.__table__.insert(),  # type: ignore[attr-defined]
                [
                    {
                        "key": p.key,
                        "owner": p.owner,
                        "status": p.status,
                        "deadline": p.deadline,
                        "version": 1,
                        "data": p.data,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for p in new
                ],
            )
        if old:
            table = Record.__table__  # type: ignore[attr-defined]
            stmt = (
                update(table)
                .where(table.c.key == bindparam("k"), table.c.version == bindparam("v"))
                .values(
                    status=bindparam("s"),
                    deadline=bindparam("dl"),
                    data=bindparam("d"),
                    version=bindparam("v") + 1,
                    updated_at=now,
                )
            )
            rows = [
                {"k": p.key, "v": p.expected_version, "s": p.status, "dl": p.deadline, "d": p.data}
                for p in old
            ]
            result = conn.execute(stmt, rows)
            if result.rowcount != len(rows):
                raise VersionConflict(
                    f"{len(rows) - result.rowcount} record(s) changed concurrently"
                )
        if self.outbox:
            conn.execute(
                insert_ignoring_duplicates(conn, Outbox.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "message_id": r.message_id,
                        "topic": r.topic,
                        "key": r.key,
                        "value": r.value,
                        "created_at": now,
                    }
                    for r in self.outbox
                ],
            )
        if self.journal:
            conn.execute(Journal.__table__.insert(), self.journal)  # type: ignore[attr-defined]
        if self.published:
            delete_sent(conn, self.published)
        return self.outbox


def select_held() -> Select[Any]:
    """A SELECT of the record columns a `Held` is made from, in its field order."""
    table = Record.__table__  # type: ignore[attr-defined]
    return select(*(table.c[f] for f in Held.__dataclass_fields__))


def load_records(conn: Connection, keys: Iterable[str]) -> dict[str, Held]:
    """The records of these keys, in as few queries as the keys allow."""
    table = Record.__table__  # type: ignore[attr-defined]
    wanted = list(dict.fromkeys(keys))
    held: dict[str, Held] = {}
    for i in range(0, len(wanted), CHUNK):
        result = conn.execute(select_held().where(table.c.key.in_(wanted[i : i + CHUNK])))
        for row in result:
            held[row.key] = Held(*row)
    return held


def seen_messages(conn: Connection, ids: Sequence[str]) -> dict[str, bytes | None]:
    """Which of these message ids were handled before, with the replies stored for each."""
    table = Inbox.__table__  # type: ignore[attr-defined]
    seen: dict[str, bytes | None] = {}
    for i in range(0, len(ids), CHUNK):
        result = conn.execute(
            select(table.c.message_id, table.c.replies).where(
                table.c.message_id.in_(ids[i : i + CHUNK])
            )
        )
        seen.update({row.message_id: row.replies for row in result})
    return seen


def replayed_rows(replies: bytes) -> list[OutRow]:
    """The outbox rows of replies stored in the inbox, ready to publish again unchanged."""
    rows = []
    for raw in json.loads(replies):
        value = json.dumps(raw, separators=(",", ":")).encode()
        envelope = Envelope.model_validate(raw)
        rows.append(OutRow(envelope.id, topic_of(envelope.payload), envelope.declaration_id, value))
    return rows


def delete_sent(conn: Connection, ids: Sequence[str]) -> None:
    """Remove published messages from the outbox."""
    table = Outbox.__table__  # type: ignore[attr-defined]
    for i in range(0, len(ids), CHUNK):
        conn.execute(delete(table).where(table.c.message_id.in_(ids[i : i + CHUNK])))
