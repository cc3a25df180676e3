"""Service-tier fixtures: real SQLite files, no broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.store import GATEWAY_TABLES
from services.common.database import Database
from services.common.db import create_tables_sync


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'service.db'}")
    await database.write(lambda conn: create_tables_sync(conn, GATEWAY_TABLES))
    yield database
    database.dispose()
