"""What a hot-path statement costs through SQLAlchemy Core and through the DBAPI connection.

Side by side in one run, on one SQLite file in WAL mode (the services' settings):
    .venv/bin/python bench/sql_overhead.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, select

from gateway.app import GATEWAY_TABLES
from services.common.changes import Held
from services.common.database import Database
from services.common.db import Outbox, Record, create_tables_sync, insert_ignoring_duplicates
from services.common.rawsql import Driver, marks

N = 2000


def core_insert(conn: Connection) -> None:
    for i in range(N):
        rows = [
            {"message_id": f"a{i}-{j}", "topic": "t", "key": "k", "value": b"v", "created_at": 1.0}
            for j in range(3)
        ]
        conn.execute(insert_ignoring_duplicates(conn, Outbox.__table__), rows)  # type: ignore[attr-defined]


def raw_insert(conn: Connection) -> None:
    db = Driver(conn)
    for i in range(N):
        db.many(
            "INSERT INTO outbox (message_id, topic, key, value, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(f"b{i}-{j}", "t", "k", b"v", 1.0) for j in range(3)],
        )


def core_select(conn: Connection) -> None:
    table = Record.__table__  # type: ignore[attr-defined]
    columns = [table.c[f] for f in Held.__dataclass_fields__]
    for i in range(N):
        conn.execute(select(*columns).where(table.c.key.in_([f"x{i}", f"y{i}"]))).all()


def raw_select(conn: Connection) -> None:
    db = Driver(conn)
    fields = ", ".join(Held.__dataclass_fields__)
    for i in range(N):
        db.rows(f"SELECT {fields} FROM records WHERE key IN ({marks(2)})", (f"x{i}", f"y{i}"))


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        await db.write(lambda conn: create_tables_sync(conn, GATEWAY_TABLES))
        pairs: list[tuple[str, Callable[[Connection], None], Callable[[Connection], None]]] = [
            ("insert of 3 outbox rows", core_insert, raw_insert),
            ("select of 2 records by key", core_select, raw_select),
        ]
        print(f"{N} statements each, one transaction per kind, same SQLite file")
        for what, core, raw in pairs:
            spent = []
            for fn in (core, raw):
                started = time.perf_counter()
                await db.write(fn)
                spent.append((time.perf_counter() - started) / N * 1e6)
            print(
                f"{what:28s} SQLAlchemy Core {spent[0]:6.1f} µs   DBAPI {spent[1]:6.1f} µs"
                f"   ratio {spent[0] / spent[1]:4.1f}×"
            )
        db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
