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


class IdempotentRequest(SQLModel, table=True):
    """A POST sent with an Idempotency-Key: in flight (no status yet), then its first answer.

    Keys are scoped per caller (an enterprise id, or `admin`) and per route (method and path);
    `token` fences the claim, so only the request that holds it records the answer.
    """

    __tablename__ = "idempotent_requests"
    caller: str = Field(primary_key=True)
    route: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    request_hash: str
    token: str
    status_code: int | None = None
    content_type: str | None = None
    response: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: float = Field(index=True)


class DeclarationReference(SQLModel, table=True):
    """The trader's own reference of a declaration, unique per enterprise."""

    __tablename__ = "declaration_references"
    enterprise_id: str = Field(primary_key=True)
    reference: str = Field(primary_key=True)
    declaration_id: str


class SandboxClock(SQLModel, table=True):
    """How far a run's sandbox clock is ahead of real time: per enterprise, or `*` for all."""

    __tablename__ = "sandbox_clocks"
    scope: str = Field(primary_key=True)
    offset_s: float


GATEWAY_TABLES = [
    Enterprise.__table__,  # type: ignore[attr-defined]
    IdempotentRequest.__table__,  # type: ignore[attr-defined]
    DeclarationReference.__table__,  # type: ignore[attr-defined]
    SandboxClock.__table__,  # type: ignore[attr-defined]
    *WEBHOOK_TABLES,
]
ALL_RUNS = "*"


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


def reference_owner(conn: Connection, *, enterprise_id: str, reference: str) -> str | None:
    """The declaration that already carries this reference for the enterprise, if any."""
    table = DeclarationReference.__table__  # type: ignore[attr-defined]
    row = conn.execute(
        select(table.c.declaration_id).where(
            table.c.enterprise_id == enterprise_id, table.c.reference == reference
        )
    ).first()
    return row.declaration_id if row else None


def save_reference(
    conn: Connection, *, enterprise_id: str, reference: str, declaration_id: str
) -> None:
    """Claim a reference for a declaration."""
    conn.execute(
        DeclarationReference.__table__.insert(),  # type: ignore[attr-defined]
        {"enterprise_id": enterprise_id, "reference": reference, "declaration_id": declaration_id},
    )


def clock_offset(conn: Connection, *, enterprise_id: str | None) -> float:
    """The run clock's offset for an enterprise (its own plus everyone's); None: everyone's."""
    table = SandboxClock.__table__  # type: ignore[attr-defined]
    scopes = [ALL_RUNS] if enterprise_id is None else [ALL_RUNS, enterprise_id]
    rows = conn.execute(select(table.c.offset_s).where(table.c.scope.in_(scopes))).all()
    return float(sum(r.offset_s for r in rows))


def move_clock(conn: Connection, *, scope: str, seconds: float) -> None:
    """Move a run clock forward by `seconds`."""
    table = SandboxClock.__table__  # type: ignore[attr-defined]
    found = conn.execute(select(table.c.offset_s).where(table.c.scope == scope)).first()
    if found is None:
        conn.execute(table.insert(), {"scope": scope, "offset_s": seconds})
    else:
        conn.execute(
            table.update().where(table.c.scope == scope).values(offset_s=found.offset_s + seconds)
        )
