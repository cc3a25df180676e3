"""The sandbox's stored state on a real SQLite file: run clocks and references per enterprise."""

from __future__ import annotations

from sqlalchemy import Connection

from gateway.core.store import (
    ALL_RUNS,
    claim_reference,
    clock_offset,
    move_clock,
    reference_owner,
)
from services.common.changes import Changes
from services.common.database import Database


async def test_run_clocks_add_up_per_enterprise_and_for_everyone(db: Database) -> None:
    assert await db.write(lambda c: clock_offset(c, enterprise_id="ent_a")) == 0.0
    await db.write(lambda c: move_clock(c, scope="ent_a", seconds=60))
    await db.write(lambda c: move_clock(c, scope="ent_a", seconds=30))
    await db.write(lambda c: move_clock(c, scope=ALL_RUNS, seconds=5))
    # ent_a: 60 + 30 of its own, + 5 for everyone; ent_b: only everyone's; admin: everyone's
    assert await db.write(lambda c: clock_offset(c, enterprise_id="ent_a")) == 95.0
    assert await db.write(lambda c: clock_offset(c, enterprise_id="ent_b")) == 5.0
    assert await db.write(lambda c: clock_offset(c, enterprise_id=None)) == 5.0


async def test_a_reference_belongs_to_one_declaration_of_an_enterprise(db: Database) -> None:
    def claim(conn: Connection, changes: Changes, declaration_id: str) -> str | None:
        return claim_reference(
            conn, changes, enterprise_id="ent_a", reference="PO-1", declaration_id=declaration_id
        )

    def first_group(conn: Connection) -> tuple[str | None, str | None]:
        changes = Changes()
        first = claim(conn, changes, "d1")
        second = claim(conn, Changes(), "d2")  # the same transaction: the claim is remembered
        changes.apply(conn)
        return first, second

    assert await db.write(first_group) == (None, "d1")
    assert await db.write(lambda c: claim(c, Changes(), "d3")) == "d1", "read from the table"
    assert await db.write(lambda c: claim(c, Changes(), "d1")) is None, "its own: no conflict"
    assert await db.write(
        lambda c: reference_owner(c, enterprise_id="ent_a", reference="PO-1")
    ) == ("d1")
    assert await db.write(
        lambda c: reference_owner(c, enterprise_id="ent_b", reference="PO-1")
    ) is (None)
