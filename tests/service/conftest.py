"""Service-tier fixtures: real SQLite files, no broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store import GATEWAY_TABLES
from services.common.db import create_tables, make_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'service.db'}")
    await create_tables(eng, GATEWAY_TABLES)
    yield eng
    await eng.dispose()
