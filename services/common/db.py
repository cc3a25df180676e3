"""Database setup and the tables every service has: inbox, outbox, records, journal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Connection, Index, LargeBinary, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Insert
from sqlmodel import Field, SQLModel

from services.common.database import postgres_url, sqlite_pragmas_and_immediate


class Inbox(SQLModel, table=True):
    """Ids of the messages a service has handled, with the replies it made to each."""

    __tablename__ = "inbox"
    message_id: str = Field(primary_key=True)
    replies: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    processed_at: float


class Outbox(SQLModel, table=True):
    """Messages written with the state change that caused them, waiting to be published."""

    __tablename__ = "outbox"
    message_id: str = Field(primary_key=True)  # UUIDv7: sorts in write order
    topic: str
    key: str
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: float


class Record(SQLModel, table=True):
    """What a service holds about one declaration, as a JSON document with a few indexed columns."""

    __tablename__ = "records"
    __table_args__ = (
        Index("ix_records_owner_status", "owner", "status"),
        Index("ix_records_deadline", "deadline"),
    )
    key: str = Field(primary_key=True)
    owner: str = Field(default="")
    status: str
    deadline: float | None = None
    version: int = 1
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: float
    updated_at: float


class Journal(SQLModel, table=True):
    """Every message a service handled or emitted, per declaration, in order."""

    __tablename__ = "journal"
    __table_args__ = (Index("ix_journal_declaration", "declaration_id", "seq"),)
    seq: int | None = Field(default=None, primary_key=True)
    declaration_id: str
    message_id: str
    direction: str  # "in" or "out"
    type: str
    source: str
    occurred_at: str
    envelope: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Maintenance(SQLModel, table=True):
    """Periodic jobs shared by a service's replicas: when each is next due, and who took it."""

    __tablename__ = "maintenance"
    name: str = Field(primary_key=True)
    next_at: float
    holder: str


KIT_TABLES = [m.__table__ for m in (Inbox, Outbox, Record, Journal, Maintenance)]  # type: ignore[union-attr]


def make_engine(url: str) -> AsyncEngine:
    """An async engine for reads; SQLite files get WAL, a busy timeout and relaxed fsync.

    PostgreSQL runs on psycopg 3 whatever driver the URL names, so one driver serves both the
    hot path's sync engine and this one.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        sqlite_pragmas_and_immediate(engine.sync_engine)
        return engine
    return create_async_engine(postgres_url(url), pool_size=5, max_overflow=5, pool_pre_ping=True)


# Replicas starting together take this lock around their CREATE TABLE IF NOT EXISTS: in
# PostgreSQL two of them racing can both miss the table and one fails on the catalog's key.
# Start-up only: no writer of the hot path takes a lock of this kind.
SCHEMA_LOCK = 0x5357_0002  # "SW", 2


def create_tables_sync(conn: Connection, extra: Sequence[Any] = ()) -> None:
    """Create the kit's tables and a service's own, if missing (in the caller's transaction)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
    SQLModel.metadata.create_all(conn, tables=[*KIT_TABLES, *extra])


def insert_ignoring_duplicates(conn: Connection | AsyncConnection, table: Any) -> Insert:
    """INSERT that skips rows whose primary key exists, in the dialect at hand."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"unsupported database dialect {conn.dialect.name}")
