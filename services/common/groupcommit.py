"""Group commit: HTTP writes that arrive together commit in one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from services.common.changes import Changes, OutRow, is_conflict
from services.common.database import Database, commit_mark, forget_since, transaction_memo
from services.common.rawsql import Driver
from services.common.tasks import cancel

log = logging.getLogger(__name__)
T = TypeVar("T")

# How often a unit that met a concurrent writer's row is run again before its caller hears it.
RETRIES = 3

# A unit returns its result and either the outbox rows it wrote or the Changes it wants
# written: those of every unit in the group are written together, one statement per table.
Unit = Callable[[Connection], tuple[T, Sequence[OutRow] | Changes]]


@dataclass
class _Waiting(Generic[T]):
    unit: Unit[T]
    future: asyncio.Future[T]
    savepoint: bool = True
    tries: int = 0


class GroupCommit:
    """Queues units of work and runs each queue's worth in one transaction, one savepoint each.

    A unit returns its result and the outbox rows it wrote; a unit that raises is rolled back
    to its savepoint alone and its caller gets the exception. Under load this turns hundreds of
    small transactions into a few large ones; when idle, a unit runs at once.
    """

    def __init__(
        self, db: Database, publish: Callable[[Sequence[OutRow]], None], *, max_batch: int = 256
    ) -> None:
        self.db = db
        self.publish = publish
        self.max_batch = max_batch
        self._queue: list[_Waiting[Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writer (the lifespan owns it)."""
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._queue:
            await self._write(self._take())
        await cancel(self._task)

    async def run(self, unit: Unit[T], *, savepoint: bool = True) -> T:
        """Run `unit` in the next group transaction; return its result once committed.

        `savepoint=False` is for a unit that writes nothing itself before it can fail (it
        reads, then hands over its Changes): it needs nothing to roll back, and the two
        statements of a savepoint were most of its cost.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(unit, future, savepoint))
        self._wake.set()
        return await future

    def _take(self) -> list[_Waiting[Any]]:
        batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        return batch

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._write(self._take())

    def _again(self, waiting: _Waiting[Any], exc: BaseException) -> bool:
        """Whether a unit that failed is run again: it met a concurrent writer's row, which
        it will now read (another replica took the idempotency key or the reference)."""
        if not is_conflict(exc) or waiting.tries >= RETRIES:
            return False
        waiting.tries += 1
        return True

    async def _write(self, batch: list[_Waiting[Any]]) -> None:
        def unit_of_work(
            conn: Connection,
        ) -> tuple[list[tuple[bool, Any, Sequence[OutRow]]], list[OutRow]]:
            outcomes: list[tuple[bool, Any, Sequence[OutRow]]] = []
            together = Changes()
            # Each unit in a savepoint of its own, set by plain SQL: through SQLAlchemy's
            # begin_nested() the two statements cost more than a submission's own work.
            db = Driver(conn)
            for waiting in batch:
                mark = commit_mark(conn)
                if waiting.savepoint:
                    db.run("SAVEPOINT sw_unit")
                try:
                    result, written = waiting.unit(conn)
                except Exception as exc:
                    forget_since(conn, mark)
                    if waiting.savepoint:
                        db.run("ROLLBACK TO SAVEPOINT sw_unit")
                        db.run("RELEASE SAVEPOINT sw_unit")
                    transaction_memo(conn).clear()  # it may remember what is not written
                    outcomes.append((False, exc, ()))
                    continue
                if waiting.savepoint:
                    db.run("RELEASE SAVEPOINT sw_unit")
                if isinstance(written, Changes):
                    together.merge(written)
                    written = ()
                outcomes.append((True, result, written))
            return outcomes, together.apply(conn)

        try:
            outcomes, rows = await self.db.write(unit_of_work)
        except Exception as exc:
            if is_conflict(exc) and len(batch) > 1:
                # One unit's row was won elsewhere: each on its own, so only that one meets it.
                for waiting in batch:
                    await self._write([waiting])
                return
            if len(batch) == 1 and self._again(batch[0], exc):
                await self._write(batch)
                return
            log.exception("group commit of %d units failed", len(batch))
            for waiting in batch:
                if not waiting.future.done():
                    waiting.future.set_exception(exc)
            return
        rows.extend(row for ok, _, unit_rows in outcomes if ok for row in unit_rows)
        self.publish(rows)
        for waiting, (ok, value, _) in zip(batch, outcomes, strict=True):
            if waiting.future.done():
                continue
            if not ok and self._again(waiting, value):
                self._queue.append(waiting)
                self._wake.set()
            elif ok:
                waiting.future.set_result(value)
            else:
                waiting.future.set_exception(value)
