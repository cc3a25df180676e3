"""The gateway's own tables: enterprises with hashed API keys, idempotency keys, webhooks' (webhook_store)."""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import Column, Connection, LargeBinary, select
from sqlmodel import Field, SQLModel

from gateway.webhook_store import WEBHOOK_TABLES


class Enterprise(SQLModel, table=True):
    """An enterprise that may submit declarations; its API key is stored hashed."""

    __tablename__ = "enterprises"
    id: str = Field(primary_key=True)
    name: str
    api_key_hash: str = Field(index=True, unique=True)
    created_at: float


class IdempotencyKey(SQLModel, table=True):
    """The first response to a POST with an Idempotency-Key, replayed for the same key."""

    __tablename__ = "idempotency_keys"
    enterprise_id: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    request_hash: str
    status_code: int
    response: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: float


GATEWAY_TABLES = [Enterprise.__table__, IdempotencyKey.__table__, *WEBHOOK_TABLES]  # type: ignore[attr-defined]
IDEMPOTENCY_TTL_S = 24 * 3600


def hash_key(api_key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def all_enterprises(conn: Connection) -> dict[str, str]:
    """Map of key hash → enterprise id."""
    table = Enterprise.__table__  # type: ignore[attr-defined]
    rows = conn.execute(select(table.c.api_key_hash, table.c.id))
    return {r.api_key_hash: r.id for r in rows}


def add_enterprise(conn: Connection, *, enterprise_id: str, name: str, api_key: str) -> None:
    """Register an enterprise with its key (stored hashed)."""
    conn.execute(
        Enterprise.__table__.insert(),  # type: ignore[attr-defined]
        {
            "id": enterprise_id,
            "name": name,
            "api_key_hash": hash_key(api_key),
            "created_at": time.time(),
        },
    )


def find_idempotent(conn: Connection, *, enterprise_id: str, key: str) -> IdempotencyKey | None:
    """The stored response for a key, unless expired."""
    table = IdempotencyKey.__table__  # type: ignore[attr-defined]
    row = (
        conn.execute(
            select(table).where(
                table.c.enterprise_id == enterprise_id,
                table.c.key == key,
                table.c.created_at > time.time() - IDEMPOTENCY_TTL_S,
            )
        )
    ).first()
    return IdempotencyKey(**row._mapping) if row else None


def save_idempotent(
    conn: Connection,
    *,
    enterprise_id: str,
    key: str,
    request_hash: str,
    status_code: int,
    response: bytes,
) -> None:
    """Store the first response for a key (replacing an expired one)."""
    table = IdempotencyKey.__table__  # type: ignore[attr-defined]
    conn.execute(table.delete().where(table.c.enterprise_id == enterprise_id, table.c.key == key))
    conn.execute(
        table.insert(),
        {
            "enterprise_id": enterprise_id,
            "key": key,
            "request_hash": request_hash,
            "status_code": status_code,
            "response": response,
            "created_at": time.time(),
        },
    )
