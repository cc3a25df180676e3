"""The API's reads of the saga records and the journal, keyword-only.

They run on the async engine's pool (`read`), beside the writer thread: a read of one
declaration never waits behind a group commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, select

from gateway.saga import TERMINAL
from services.common.changes import Held, select_held
from services.common.db import Journal, Record
from services.common.runtime import Runtime

T = TypeVar("T")
_RECORDS = Record.__table__  # type: ignore[attr-defined]
_JOURNAL = Journal.__table__  # type: ignore[attr-defined]
_COLUMNS = ("key", "owner", "status", "data", "created_at", "updated_at")


async def read(runtime: Runtime, fn: Callable[[Connection], T]) -> T:
    """Run `fn` on a connection of the async engine's pool."""
    async with runtime.engine.connect() as conn:
        return await conn.run_sync(fn)


def _rows() -> Any:
    return select(*(_RECORDS.c[c] for c in _COLUMNS))


def declaration_row(conn: Connection, *, declaration_id: str) -> Row[Any] | None:
    """The saga record of a declaration (key, owner, status, data, times), or None."""
    return conn.execute(_rows().where(_RECORDS.c.key == declaration_id)).first()


def declaration_rows(
    conn: Connection,
    *,
    owner: str | None = None,
    status: str | None = None,
    before: str | None = None,
    limit: int,
    newest_first: bool,
) -> Sequence[Row[Any]]:
    """Saga records by id order, of one owner and/or status, those before a cursor id."""
    stmt = _rows()
    if owner is not None:
        stmt = stmt.where(_RECORDS.c.owner == owner)
    if status is not None:
        stmt = stmt.where(_RECORDS.c.status == status)
    if before:
        stmt = stmt.where(_RECORDS.c.key < before)
    order = _RECORDS.c.key.desc() if newest_first else _RECORDS.c.key
    return conn.execute(stmt.order_by(order).limit(limit)).all()


def journal_lines(conn: Connection, *, declaration_id: str) -> Sequence[Row[Any]]:
    """Every journal line of a declaration, in order."""
    j = _JOURNAL.c
    stmt = (
        select(j.seq, j.direction, j.occurred_at, j.envelope)
        .where(j.declaration_id == declaration_id)
        .order_by(j.seq)
    )
    return conn.execute(stmt).all()


def open_held(conn: Connection, *, owner: str | None, limit: int) -> list[Held]:
    """The records of declarations not ended, by id, of one owner (None: every owner's)."""
    stmt = select_held().where(_RECORDS.c.status.not_in(TERMINAL))
    if owner is not None:
        stmt = stmt.where(_RECORDS.c.owner == owner)
    return [Held(*r) for r in conn.execute(stmt.order_by(_RECORDS.c.key).limit(limit)).all()]
