"""The unit of work on a saga: load it, act, save it, in one transaction.

Saving writes the record (version-checked against what was loaded), the commands the act
sends and, when asked, its public status change, all in the unit's Changes: what moved the
saga and what it caused commit together. Routes, filings, the sandbox controls, the
dashboard and the deadline watcher all go through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy import Connection

from gateway.core.errors import ChangedMeanwhile, NotFound
from gateway.core.idempotency import Answer
from gateway.saga import PendingStep, Saga, filings
from gateway.saga.handlers import put_saga, status_event
from schemas.envelope import Envelope
from services.common.changes import Changes, Held, OutRow, VersionConflict, load_records
from services.common.runtime import Runtime

T = TypeVar("T")


@dataclass
class SagaUnit:
    """One saga as loaded in a transaction, and the Changes its save goes into."""

    changes: Changes
    held: Held
    saga: Saga
    filed: filings.Filed  # the declaration as filed, read in the same transaction

    @classmethod
    def load(
        cls, conn: Connection, changes: Changes, declaration_id: str, *, owner: str | None
    ) -> SagaUnit:
        """The saga of a declaration of `owner` (None: anyone's); NotFound otherwise."""
        held = load_records(conn, [declaration_id]).get(declaration_id)
        if held is None or (owner is not None and held.owner != owner):
            # Another enterprise's declaration is as invisible as one that does not exist.
            raise NotFound(f"no declaration {declaration_id}")
        return cls.of(changes, held, filings.reader(conn))

    @classmethod
    def of(
        cls, changes: Changes, held: Held, filed: filings.Filed, saga: Saga | None = None
    ) -> SagaUnit:
        """The unit of a record read already (parsed already, if `saga` is given)."""
        parsed = saga if saga is not None else Saga.model_validate_json(held.data)
        return cls(changes, held, parsed, filed)

    def save(
        self,
        after: Saga,
        *,
        sent: Sequence[Envelope] = (),
        resend: Sequence[PendingStep] = (),
        status: bool = False,
        cause: Envelope | None = None,
        at: float | None = None,
    ) -> list[Envelope]:
        """Write `after`: commands just `sent`, those of pending steps to `resend` (rebuilt
        with their ids), and the status change if `status`; the commands emitted."""
        commands = [*sent, *filings.commands(self.filed, after, resend)]
        for envelope in commands:
            self.changes.emit(envelope, at=at)
        self.changes.put(put_saga(after, self.held))
        if status:
            self.changes.emit(status_event(after, cause, self.saga.state))
        return commands


async def run_on_saga(
    runtime: Runtime, unit: Callable[[Connection], tuple[T, Sequence[OutRow]]]
) -> T:
    """Run a unit of work on sagas through the group commit; a concurrent change is
    ChangedMeanwhile (try again)."""
    try:
        return await runtime.intake.run(unit)
    except VersionConflict as exc:
        raise ChangedMeanwhile("the declaration moved; try again") from exc


async def act_on_saga(
    runtime: Runtime,
    request: Request,
    declaration_id: str,
    *,
    owner: str | None,
    act: Callable[[SagaUnit], BaseModel],
) -> Response:
    """A route's unit of work on one saga: load it (NotFound unless `owner`'s), `act` (which
    saves it), and answer with what `act` returns, recorded under the request's
    Idempotency-Key in the same transaction."""
    answer = Answer.to(request)

    def unit(conn: Connection) -> tuple[Response, Sequence[OutRow]]:
        changes = Changes()
        done = act(SagaUnit.load(conn, changes, declaration_id, owner=owner))
        return answer(conn, done), changes.apply(conn)

    return await answer.kept(run_on_saga(runtime, unit))
