"""The tables every role shares: enterprises with hashed API keys, idempotency keys,
references, sandbox clocks (webhooks and the CEB door keep their own)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

from sqlalchemy import Column, Connection, LargeBinary, select
from sqlmodel import Field, SQLModel

from services.common.changes import Changes
from services.common.database import transaction_memo
from services.common.rawsql import CHUNK, Driver, marks


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
    declaration_id: str = Field(index=True)  # retention purges by it


class SandboxClock(SQLModel, table=True):
    """How far a run's sandbox clock is ahead of real time: per enterprise, or `*` for all."""

    __tablename__ = "sandbox_clocks"
    scope: str = Field(primary_key=True)
    offset_s: float


CORE_TABLES = [
    Enterprise.__table__,  # type: ignore[attr-defined]
    IdempotentRequest.__table__,  # type: ignore[attr-defined]
    DeclarationReference.__table__,  # type: ignore[attr-defined]
    SandboxClock.__table__,  # type: ignore[attr-defined]
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
    rows = Driver(conn).rows(
        "SELECT declaration_id FROM declaration_references "
        "WHERE enterprise_id = ? AND reference = ?",
        (enterprise_id, reference),
    )
    return str(rows[0][0]) if rows else None


def claim_reference(
    conn: Connection,
    changes: Changes,
    *,
    enterprise_id: str,
    reference: str,
    declaration_id: str,
) -> str | None:
    """Give a reference to a declaration; None if it is the declaration's now, else the
    declaration that has it.

    The row is written with `changes`; until then the transaction's memo holds the claim, so a
    second claim in the same group commit sees the first. The primary key stays the final
    guard: another replica's claim committed meanwhile (PostgreSQL) makes the insert a
    conflict, and the group commit runs this unit again alone, where it reads that claim.
    """
    claims: dict[tuple[str, str], str] = transaction_memo(conn).setdefault(_CLAIMS, {})
    taken = claims.get((enterprise_id, reference)) or reference_owner(
        conn, enterprise_id=enterprise_id, reference=reference
    )
    if taken is not None:
        return None if taken == declaration_id else taken
    claims[(enterprise_id, reference)] = declaration_id
    changes.add_row(
        "INSERT INTO declaration_references (enterprise_id, reference, declaration_id) "
        "VALUES (?, ?, ?)",
        (enterprise_id, reference, declaration_id),
    )
    return None


_CLAIMS = "reference_claims"
_CLOCK = "clock_offset"


def clock_offset(conn: Connection, *, enterprise_id: str | None) -> float:
    """The run clock's offset for an enterprise (its own plus everyone's); None: everyone's.

    Read once per transaction and enterprise: a group commit of hundreds of submissions asks
    the same question hundreds of times.
    """
    memo = transaction_memo(conn)
    key = (_CLOCK, enterprise_id)
    if key not in memo:
        scopes = [ALL_RUNS] if enterprise_id is None else [ALL_RUNS, enterprise_id]
        rows = Driver(conn).rows(
            f"SELECT offset_s FROM sandbox_clocks WHERE scope IN ({marks(len(scopes))})", scopes
        )
        memo[key] = float(sum(offset_s for (offset_s,) in rows))
    return float(memo[key])


def move_clock(conn: Connection, *, scope: str, seconds: float) -> None:
    """Move a run clock forward by `seconds`."""
    memo = transaction_memo(conn)
    for key in [k for k in memo if isinstance(k, tuple) and k[0] == _CLOCK]:
        del memo[key]
    table = SandboxClock.__table__  # type: ignore[attr-defined]
    found = conn.execute(select(table.c.offset_s).where(table.c.scope == scope)).first()
    if found is None:
        conn.execute(table.insert(), {"scope": scope, "offset_s": seconds})
    else:
        conn.execute(
            table.update().where(table.c.scope == scope).values(offset_s=found.offset_s + seconds)
        )


def purge_references(conn: Connection, declaration_ids: Sequence[str]) -> None:
    """Remove the references of declarations past their retention."""
    db = Driver(conn)
    for i in range(0, len(declaration_ids), CHUNK):
        chunk = declaration_ids[i : i + CHUNK]
        db.run(
            f"DELETE FROM declaration_references WHERE declaration_id IN ({marks(len(chunk))})",
            chunk,
        )
