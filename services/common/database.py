"""The hot path's database: a sync engine driven from one thread, one hop per unit of work."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import QueuePool

log = logging.getLogger(__name__)

T = TypeVar("T")


def postgres_url(url: str) -> str:
    """Any PostgreSQL URL (plain, +asyncpg, +psycopg) on psycopg 3, which is sync and async."""
    scheme, sep, rest = url.partition("://")
    if scheme.split("+", 1)[0] in ("postgresql", "postgres"):
        return f"postgresql+psycopg{sep}{rest}"
    return url


def sync_url(url: str) -> str:
    """The synchronous driver's URL of an async one (aiosqlite → pysqlite, asyncpg → psycopg)."""
    return postgres_url(url.replace("+aiosqlite", ""))


def is_postgres(url: str) -> bool:
    """Whether a database URL names PostgreSQL."""
    return url.split("://", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def sqlite_pragmas_and_immediate(engine: Engine) -> None:
    """WAL, relaxed fsync, a busy timeout, and BEGIN IMMEDIATE so writers queue instead of deadlocking."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy issues BEGIN itself (see below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


_MEMO = "sw_transaction_memo"
_TAP = "sw_tap"
_AFTER = "sw_after_commit"

# Sees each unit of work's changes (`services.common.changes.Changes`) inside its write
# transaction, just before they are written: a service adds the rows it derives from what the
# unit emits, so they commit or roll back with it (the gateway: webhooks of status changes).
Tap = Callable[[Connection, Any], None]


def tap_of(conn: Connection) -> Tap | None:
    """The tap of the Database whose write transaction `conn` is in, if it has one."""
    tap: Tap | None = conn.info.get(_TAP)
    return tap


def after_commit(conn: Connection, fn: Callable[[], None]) -> None:
    """Run `fn` once the `Database.write` transaction `conn` is in has committed (never if it
    rolls back): what a tap counts is counted once, not per attempt."""
    pending: list[Callable[[], None]] | None = conn.info.get(_AFTER)
    if pending is None:
        raise RuntimeError("after_commit outside a Database.write transaction")
    pending.append(fn)


def commit_mark(conn: Connection) -> int:
    """Where a savepoint starts in the after-commit list (`forget_since` on its rollback)."""
    return len(conn.info.get(_AFTER, ()))


def forget_since(conn: Connection, mark: int) -> None:
    """A savepoint rolled back: drop what its work asked to run after commit."""
    del conn.info.get(_AFTER, [])[mark:]


def transaction_memo(conn: Connection) -> dict[Any, Any]:
    """A dict that lives for the current write transaction: what many units of one group
    commit would each read alike (and nobody changes meanwhile) is read once.

    Whoever writes what is remembered here must forget it (`pop`) in the same transaction.
    """
    transaction = conn.get_transaction()
    if transaction is None:
        return {}  # no transaction: nothing to share
    held = conn.info.get(_MEMO)
    if held is None or held[0] is not transaction:  # conn.info outlives transactions
        held = conn.info[_MEMO] = (transaction, {})
    return held[1]


class Database:
    """Runs whole transactions in a worker thread, so a batch costs one hop, not one per statement.

    SQLite has one writer a file (BEGIN IMMEDIATE). On PostgreSQL nothing serializes writers:
    the inbox's primary key and version-checked updates guard each row, and `writer()` gives
    an independent writer (the HTTP group commit beside the consumer) its own thread and
    connection.
    """

    def __init__(
        self, url: str, *, name: str = "db", tap: Tap | None = None, engine: Engine | None = None
    ) -> None:
        self.tap = tap
        url = sync_url(url)
        self.url = url
        self.name = name
        self._owns_engine = engine is None
        # A SQLite file is local: its one connection stays checked out of the pool for good.
        # Checking it out and in around every transaction (and the pool's reset on return)
        # cost more than most transactions of the hot path; a PostgreSQL connection goes back
        # to the pool, whose pre-ping replaces one the server dropped.
        self._keep = not is_postgres(url)
        self._kept: Connection | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)
        if engine is not None:
            self.engine = engine
            return
        if url.startswith("sqlite"):
            self.engine = create_engine(
                url,
                poolclass=QueuePool,
                pool_size=1,
                max_overflow=0,
                connect_args={"timeout": 30, "check_same_thread": False},
            )
            sqlite_pragmas_and_immediate(self.engine)
        else:
            # One connection a writer thread (see `writer`), and one spare.
            self.engine = create_engine(url, pool_size=2, max_overflow=2, pool_pre_ping=True)

    def writer(self, name: str) -> Database:
        """A writer that commits independently of this one: on PostgreSQL its own thread and
        connection (same engine); on SQLite this one, since the file has one writer anyway."""
        if self._keep:
            return self
        return Database(self.url, name=f"{self.name}-{name}", tap=self.tap, engine=self.engine)

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """The worker thread's connection (only ever used from that thread)."""
        if not self._keep:
            with self.engine.connect() as conn:
                yield conn
            return
        if self._kept is None or self._kept.closed or self._kept.invalidated:
            self._kept = self.engine.connect()
        try:
            yield self._kept
        except DBAPIError as exc:
            if exc.connection_invalidated:
                self._kept.close()
                self._kept = None
            raise

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` in one transaction (committed if it returns, rolled back if it raises)."""

        def unit() -> T:
            with self._connection() as conn:
                with conn.begin():
                    conn.info[_TAP] = self.tap
                    conn.info[_AFTER] = []
                    result = fn(conn)
                pending = conn.info.pop(_AFTER)
            for hook in pending:
                try:
                    hook()
                except Exception:  # committed already: a hook's bug must not fail the write
                    log.exception("an after-commit hook failed")
            return result

        return await asyncio.get_running_loop().run_in_executor(self._executor, unit)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` on a connection without a write transaction."""

        def unit() -> T:
            with self._connection() as conn:
                try:
                    return fn(conn)
                finally:
                    conn.rollback()  # ends what the reads began; nothing was written

        return await asyncio.get_running_loop().run_in_executor(self._executor, unit)

    def dispose(self) -> None:
        """Stop the thread and close connections."""

        def close() -> None:
            if self._kept is not None:
                self._kept.close()
                self._kept = None

        with contextlib.suppress(RuntimeError):  # already shut down
            self._executor.submit(close).result()
        self._executor.shutdown(wait=True)
        if self._owns_engine:
            self.engine.dispose()
