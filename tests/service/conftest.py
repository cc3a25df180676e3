"""Service-tier fixtures: real databases (a SQLite file, and a PostgreSQL server), no broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.app import GATEWAY_TABLES
from services.common.database import Database
from services.common.db import create_tables_sync


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The hot path's database on each storage the kit supports; every test runs on both."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'service.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    database = Database(url)
    await database.write(lambda conn: create_tables_sync(conn, GATEWAY_TABLES))
    yield database
    database.dispose()
