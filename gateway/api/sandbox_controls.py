"""Sandbox test helpers under /v1/test_helpers: force a pending step's outcome, move the clock.

Mounted only when `SW_TEST_HELPERS` is true (otherwise every path is a 404). The admin token
may act on any declaration; in sandbox mode an enterprise's key may act on its own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from sqlalchemy import Connection

from gateway import saga as sagas
from gateway.api import store
from gateway.core.config import GatewayConfig
from gateway.core.deps import Caller, ConfigDep, RuntimeDep
from gateway.core.idempotency import Answer
from gateway.core.keys import OPERATOR
from gateway.core.store import ALL_RUNS, clock_offset, move_clock
from gateway.saga import filings
from gateway.saga.forcing import force
from gateway.saga.handlers import catch_up
from gateway.saga.unit import SagaUnit, act_on_saga, run_on_saga
from schemas.api import ClockAdvance, ClockDeclaration, ClockView, ForcedStep, ForceOutcome
from schemas.scenarios import HELPERS_BY_NAME
from services.common.changes import Changes, OutRow

MAX_RUN = 10_000  # open declarations one run-wide clock move takes along


router = APIRouter(prefix="/v1/test_helpers", tags=["test helpers"])


def _owner(who: str) -> str | None:
    """Whose declarations a caller may act on: an enterprise its own, the operator any."""
    return None if who == OPERATOR else who


@router.post("/declarations/{declaration_id}/outcomes", response_model=ForcedStep)
async def force_outcome(
    declaration_id: str,
    body: ForceOutcome,
    who: Caller,
    request: Request,
    runtime: RuntimeDep,
    config: ConfigDep,
) -> Response:
    """Push the declaration's pending step to an outcome now: the agency gets a new command
    naming the outcome and decides it with its own rules."""
    outcome = HELPERS_BY_NAME[body.outcome]

    def force_one(one: SagaUnit) -> ForcedStep:
        forced = force(
            one.saga,
            outcome,
            share=body.share,
            now=time.time(),
            step_deadline_s=config.step_deadline_s,
            filing=one.filed(declaration_id),
        )
        stalled = forced.saga.stalled_reason != one.saga.stalled_reason
        one.save(forced.saga, sent=[forced.send], status=stalled)
        return ForcedStep(
            id=declaration_id,
            outcome=outcome.name,
            agency=outcome.agency,
            command=forced.send.type,
            command_id=forced.send.id,
            supersedes=forced.supersedes,
            status=sagas.public_status(forced.saga),
        )

    return await act_on_saga(runtime, request, declaration_id, owner=_owner(who), act=force_one)


def _move(one: SagaUnit, seconds: float, now: float, config: GatewayConfig) -> ClockDeclaration:
    before = one.saga
    caught = catch_up(sagas.shift_clock(before, seconds), now=now, config=config)
    one.save(caught.saga, resend=caught.send, status=caught.stalled, at=now)
    return ClockDeclaration(
        id=before.declaration_id,
        status=sagas.public_status(caught.saga),
        state=caught.saga.state,
        clock_offset_s=caught.saga.clock_offset_s,
        resent=list(caught.resent),
        released=list(caught.released),
    )


@router.post("/clock/advance", response_model=ClockView)
async def advance_clock(
    body: ClockAdvance, who: Caller, request: Request, runtime: RuntimeDep, config: ConfigDep
) -> Response:
    """Move the sandbox clock forward: one declaration's, or your whole run's (every open
    declaration, and the clock new ones start from). What falls due happens at once:
    delayed commands go out, unanswered ones are re-sent, stalls are declared."""
    answer = Answer.to(request)

    def unit(conn: Connection) -> tuple[Response, Sequence[OutRow]]:
        now = time.time()
        changes = Changes()
        if body.declaration_id is not None:
            one = SagaUnit.load(conn, changes, body.declaration_id, owner=_owner(who))
            moved = _move(one, body.seconds, now, config)
            view = ClockView(
                scope=body.declaration_id,
                offset_s=moved.clock_offset_s,
                sandbox_time=datetime.fromtimestamp(now + moved.clock_offset_s, UTC),
                declarations=[moved],
            )
            return answer(conn, view), changes.apply(conn)
        move_clock(conn, scope=who or ALL_RUNS, seconds=body.seconds)
        filed = filings.reader(conn)
        moved_all = [
            _move(SagaUnit.of(changes, held, filed), body.seconds, now, config)
            for held in store.open_held(conn, owner=_owner(who), limit=MAX_RUN)
        ]
        offset = clock_offset(conn, enterprise_id=who or None)
        view = ClockView(
            scope=who or "all",
            offset_s=offset,
            sandbox_time=datetime.fromtimestamp(now + offset, UTC),
            declarations=moved_all,
        )
        return answer(conn, view), changes.apply(conn)

    return await answer.kept(run_on_saga(runtime, unit))


@router.get("/clock", response_model=ClockView)
async def get_clock(who: Caller, runtime: RuntimeDep) -> ClockView:
    """Your run's sandbox clock: its offset from real time and the time it shows."""
    offset = await store.read(runtime, lambda conn: clock_offset(conn, enterprise_id=who or None))
    return ClockView(
        scope=who or "all",
        offset_s=offset,
        sandbox_time=datetime.fromtimestamp(time.time() + offset, UTC),
    )
