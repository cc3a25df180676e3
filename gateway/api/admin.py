"""Operators under /v1/admin (admin token): enterprises, every enterprise's declarations,
retry and cancel, dead letters."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection

from gateway import saga as sagas
from gateway.api import deadletters, store
from gateway.api.declarations import views
from gateway.core.deps import Admin, ConfigDep, KeysDep, RuntimeDep
from gateway.core.errors import NotFound, NotReplayable
from gateway.core.idempotency import Answer
from gateway.core.store import add_enterprise
from gateway.saga import PendingStep, Saga
from gateway.saga.unit import SagaUnit, act_on_saga
from schemas.api import (
    CancelRequest,
    DeadLetterList,
    DeadLetterView,
    DeclarationList,
    EnterpriseCreate,
    EnterpriseCreated,
    OperatorAction,
    Replayed,
)
from services.common.changes import Changes
from services.common.runtime import Runtime

router = APIRouter(tags=["admin"], dependencies=[Admin])


@router.post("/v1/admin/enterprises", status_code=201, response_model=EnterpriseCreated)
async def create_enterprise(
    body: EnterpriseCreate, request: Request, runtime: RuntimeDep, keys: KeysDep
) -> Response:
    """Register an enterprise; its API key is shown once and stored hashed."""
    enterprise_id = "ent_" + secrets.token_hex(8)
    api_key = "sk_test_" + secrets.token_urlsafe(24)
    answer = Answer.to(request)

    def unit(conn: Connection) -> Response:
        add_enterprise(conn, enterprise_id=enterprise_id, name=body.name, api_key=api_key)
        created = EnterpriseCreated(id=enterprise_id, name=body.name, api_key=api_key)
        return answer(conn, created)

    response = await answer.kept(runtime.db.write(unit))
    keys.add(api_key, enterprise_id)
    return response


@router.get("/v1/admin/declarations", response_model=DeclarationList)
async def list_all_declarations(
    runtime: RuntimeDep,
    status: str = "stalled",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeclarationList:
    """Declarations of every enterprise in one status (stalled by default), oldest first."""
    rows = await store.read(
        runtime,
        lambda conn: store.declaration_rows(conn, status=status, limit=limit, newest_first=False),
    )
    return DeclarationList(data=await views(runtime, rows), next_cursor=None)


async def _operate(
    runtime: Runtime,
    request: Request,
    declaration_id: str,
    act: Callable[[Saga, float], tuple[Saga, Sequence[PendingStep]]],
) -> Response:
    def operate(one: SagaUnit) -> OperatorAction:
        now = time.time()
        after, steps = act(one.saga, now)
        resent = one.save(after, resend=steps, status=True, at=now)
        return OperatorAction(
            id=declaration_id,
            status=sagas.public_status(after),
            state=after.state,
            resent=[e.type for e in resent],
        )

    return await act_on_saga(runtime, request, declaration_id, owner=None, act=operate)


@router.post("/v1/admin/declarations/{declaration_id}/retry", response_model=OperatorAction)
async def retry_declaration(
    declaration_id: str, request: Request, runtime: RuntimeDep, config: ConfigDep
) -> Response:
    """Give a stalled declaration's unanswered steps a fresh set of tries, starting now."""

    def act(saga: Saga, now: float) -> tuple[Saga, Sequence[PendingStep]]:
        expiry = sagas.retry_stalled(saga, now=now, base_s=config.step_deadline_s)
        return expiry.saga, expiry.resend

    return await _operate(runtime, request, declaration_id, act)


@router.post("/v1/admin/declarations/{declaration_id}/cancel", response_model=OperatorAction)
async def cancel_declaration(
    declaration_id: str, request: Request, runtime: RuntimeDep, body: CancelRequest | None = None
) -> Response:
    """End a declaration that has not ended as `cancelled`; late answers are parked."""
    reason = (body or CancelRequest()).reason
    return await _operate(
        runtime,
        request,
        declaration_id,
        lambda saga, _now: (sagas.cancel(saga, reason=reason), []),
    )


@router.get("/v1/admin/deadletters", response_model=DeadLetterList)
async def list_dead_letters(
    runtime: RuntimeDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> DeadLetterList:
    """The newest dead letters of every service (per partition of sw.deadletter)."""
    found = await deadletters.read_letters(runtime.settings, limit=limit)
    return DeadLetterList(data=[DeadLetterView(id=i, **letter.model_dump()) for i, letter in found])


@router.post("/v1/admin/deadletters/{letter_id}/replay", response_model=Replayed, status_code=202)
async def replay_dead_letter(letter_id: str, request: Request, runtime: RuntimeDep) -> Response:
    """Send a dead letter's message back to its topic, to be consumed again after a fix."""
    # Through the outbox, in the transaction that records the answer to an Idempotency-Key:
    # sent once for one key, even if the gateway dies meanwhile.
    position = deadletters.parse_letter_id(letter_id)
    found = await deadletters.read_letters(runtime.settings, limit=1, at=position)
    if not found:
        raise NotFound(f"no dead letter {letter_id}")
    letter = found[0][1]
    if letter.message_id is not None:
        # A handler refused it and its service recorded it as handled, so that a redelivery
        # does not dead-letter it twice; sent again, it would be ignored as a duplicate.
        raise NotReplayable(
            f"{letter.service} refused message {letter.message_id} ({letter.kind}) and "
            "recorded it as handled; only messages that could not be read are replayed",
            kind=letter.kind,
        )
    answer = Answer.to(request)

    def unit(conn: Connection) -> tuple[Response, Changes]:
        changes = Changes()
        changes.emit_raw([deadletters.replay_row(letter)])
        return answer(conn, Replayed(id=letter_id, topic=letter.topic)), changes

    return await answer.kept(runtime.intake.run(unit))
