"""Fixtures every tier may use: a throwaway PostgreSQL server, shared by the session."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.postgres import PostgresServer, postgres_server, wanted

_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (skipped when SW_TEST_POSTGRES=off)."""
    if not wanted():
        pytest.skip("SW_TEST_POSTGRES=off")
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_database(postgres: PostgresServer) -> str:
    """The URL of a fresh, empty database on the session's server."""
    name = f"t{next(_names)}"
    postgres.create_databases(name)
    return postgres.url(name)
