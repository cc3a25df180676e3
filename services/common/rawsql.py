"""The hot path's statements, sent straight to the database driver.

Each consumed batch and each group commit runs a handful of statements (inbox, records,
outbox, journal); through SQLAlchemy Core each cost many times the driver's own time
(bench/RESULTS.md). The SQL is plain and portable: SQLite and PostgreSQL both speak
`ON CONFLICT DO NOTHING`; only the placeholder differs (`?` against psycopg's `%s`). The
statements run on the connection of the caller's SQLAlchemy transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Connection

T = TypeVar("T")


@lru_cache(maxsize=256)
def _format_style(sql: str) -> str:
    return sql.replace("?", "%s")


# Most ids in one IN list: well under SQLite's and psycopg's parameter limits.
CHUNK = 500


def marks(n: int) -> str:
    """`n` placeholders for an IN list: ?,?,…"""
    return ",".join("?" * n)


def chunked(ids: Sequence[T]) -> Iterator[tuple[Sequence[T], str]]:
    """`ids` CHUNK at a time, each chunk with the placeholders of its IN list."""
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        yield chunk, marks(len(chunk))


class Driver:
    """The DBAPI connection under a SQLAlchemy connection (the driver's own, or the async
    engine's adapter of it inside `run_sync`), with its placeholder style."""

    __slots__ = ("_format", "_raw")

    def __init__(self, conn: Connection) -> None:
        self._raw: Any = conn.connection.dbapi_connection
        self._format = conn.dialect.paramstyle in ("format", "pyformat")

    def _sql(self, sql: str) -> str:
        return _format_style(sql) if self._format else sql

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows a query returns."""
        cursor = self._raw.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement that returns no rows; the rows it changed."""
        cursor = self._raw.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def many(self, sql: str, params: Sequence[Sequence[Any]]) -> int:
        """Run a statement once per parameter row; the rows it changed in all."""
        if not params:
            return 0
        cursor = self._raw.cursor()
        try:
            cursor.executemany(self._sql(sql), params)
            return int(cursor.rowcount)
        finally:
            cursor.close()
