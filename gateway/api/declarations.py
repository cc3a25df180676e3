"""The gateway's public REST API, versioned under /v1."""

# No `from __future__ import annotations`: FastAPI must see the closure dependencies at def time.

import secrets
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import Connection, select

from gateway import saga as sagas
from gateway.api import deadletters
from gateway.api.accept import Lane
from gateway.api.timeline import timeline_entries
from gateway.core.config import GatewayConfig
from gateway.core.idempotency import Answer, Claim, claim_of
from gateway.core.keys import enterprise_auth
from gateway.core.store import add_enterprise, hash_key
from gateway.saga import PendingStep, Saga, filings
from gateway.saga.declare import Intent, declare, intend
from gateway.saga.handlers import put_saga, status_event
from gateway.saga.unit import run_on_saga
from schemas.api import (
    CancelRequest,
    DeadLetterList,
    DeadLetterView,
    DeclarationBatchCreated,
    DeclarationBatchRequest,
    DeclarationCreated,
    DeclarationList,
    DeclarationRequest,
    DeclarationView,
    EnterpriseCreate,
    EnterpriseCreated,
    HelperOutcomeView,
    OperatorAction,
    Replayed,
    ScenarioList,
    ScenarioView,
    Timeline,
)
from schemas.envelope import Envelope
from schemas.registry import asyncapi_document
from schemas.scenarios import CATALOGUE, HELPER_OUTCOMES
from schemas.trade import DeclarationData
from services.common import tracing
from services.common.admin import admin_guard
from services.common.changes import Changes, OutRow, load_records
from services.common.db import Journal, Record
from services.common.problems import Problem
from services.common.retention import past_retention
from services.common.runtime import Runtime

T = TypeVar("T")
_COLUMNS = ("key", "owner", "status", "data", "created_at", "updated_at")


# A declaration made before the retention period and no longer held (docs/operations.md).
GONE: dict[int | str, dict[str, Any]] = {
    410: {"description": "Purged: the declaration ended more than SW_RETENTION_DAYS ago"}
}


def _view(row: Any, filed: dict[str, DeclarationData]) -> DeclarationView:
    saga = Saga.model_validate_json(row.data)
    return DeclarationView(
        id=saga.declaration_id,
        status=sagas.public_status(saga),
        state=saga.state,
        steps=saga.steps,
        figures=saga.figures.model_dump(),
        entry_id=saga.entry_id,
        channel=saga.channel,
        customs_status=saga.customs_status,
        reason=saga.reason,
        stalled_reason=saga.stalled_reason,
        declaration=filed[saga.declaration_id],
        created_at=datetime.fromtimestamp(row.created_at, UTC),
        updated_at=datetime.fromtimestamp(row.updated_at, UTC),
    )


def api_router(
    runtime: Runtime, config: GatewayConfig, keys: dict[str, str], admin_token: str
) -> tuple[APIRouter, Lane]:
    """The /v1 routes, and the lane that answers `POST /v1/declarations` (gateway/api/accept.py).
    `keys` maps API-key hashes to enterprise ids and is kept current here."""
    router = APIRouter()
    records = Record.__table__  # type: ignore[attr-defined]
    journal = Journal.__table__  # type: ignore[attr-defined]

    enterprise = enterprise_auth(keys, runtime)

    admin = admin_guard(admin_token, enabled=runtime.settings.admin_enabled)

    Enterprise = Annotated[str, Depends(enterprise)]

    async def _views(rows: Sequence[Any]) -> list[DeclarationView]:
        """The views of saga rows, with their declarations as filed."""
        keys = [r.key for r in rows]
        async with runtime.engine.connect() as conn:
            filed = await conn.run_sync(lambda c: filings.filings(c, keys))
        return [_view(r, filed) for r in rows]

    async def _owned_row(declaration_id: str, owner: str) -> Any:
        async with runtime.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(*(records.c[c] for c in _COLUMNS)).where(records.c.key == declaration_id)
                )
            ).first()
        if row is None and past_retention(declaration_id, runtime.policy.retention_s):
            raise Problem(
                410,
                "gone",
                "Gone",
                f"declaration {declaration_id} was made before the retention period "
                f"(SW_RETENTION_DAYS={runtime.settings.retention_days:g} days after a "
                "declaration ends) and is no longer held: it was purged",
            )
        if row is None or row.owner != owner:
            # Another enterprise's declaration is as invisible as one that does not exist.
            raise Problem(404, "not-found", "Not found", f"no declaration {declaration_id}")
        return row

    async def declare_all(
        intents: Sequence[Intent],
        enterprise_id: str,
        held: Claim | None,
        *,
        answer_of: Callable[[list[DeclarationCreated]], BaseModel],
        field_of: Callable[[int], str],
    ) -> Response:
        """Declare every intent in one unit of the group commit, all or none; 202 with the
        answer `answer_of` makes of what was created. `field_of(i)` names the reference of
        the i-th in a refusal.

        Without an Idempotency-Key the unit only reads before it hands over its Changes: no
        savepoint needed. With one, the answer is recorded at once, in the same transaction:
        a declaration is never created twice for one key, even if the gateway dies before
        answering."""
        made: list[Envelope] = []  # the submissions once written: the roots of their traces
        answer = Answer(held, 202)

        def unit(conn: Connection) -> tuple[Response, Sequence[OutRow] | Changes]:
            changes = Changes()
            created = []
            for i, intent in enumerate(intents):
                one, submitted = declare(
                    conn,
                    changes,
                    enterprise_id=enterprise_id,
                    intent=intent,
                    config=config,
                    field=field_of(i),
                )
                created.append(one)
                made.append(submitted)
            # written with the rest of the group, a statement a table
            return answer(conn, answer_of(created)), changes

        response = await answer.kept(runtime.intake.run(unit, savepoint=held is not None))
        for submitted in made:
            tracing.declared(submitted)
        return response

    async def accept(body: DeclarationRequest, enterprise_id: str, held: Claim | None) -> Response:
        return await declare_all(
            [intend(body, enterprise_id, config)],
            enterprise_id,
            held,
            answer_of=lambda created: created[0],
            field_of=lambda _: "reference",
        )

    @router.post(
        "/v1/declarations",
        status_code=202,
        response_model=DeclarationCreated,
        tags=["declarations"],
    )
    async def create_declaration(
        body: DeclarationRequest, enterprise_id: Enterprise, request: Request
    ) -> Any:
        """Submit one declaration; it is processed asynchronously (202).

        With an `Idempotency-Key`, its answer is recorded in the submission's own transaction:
        a declaration is never created twice for one key, even if the gateway dies before
        answering."""
        return await accept(body, enterprise_id, claim_of(request))

    @router.post(
        "/v1/declarations/batch",
        status_code=202,
        response_model=DeclarationBatchCreated,
        tags=["declarations"],
    )
    async def create_declaration_batch(
        body: DeclarationBatchRequest, enterprise_id: Enterprise, request: Request
    ) -> Any:
        """Submit up to 500 declarations in one request, all or none (202).

        Each is validated and declared as `POST /v1/declarations` would; if one is refused
        (an invalid field, a reference already in use, also by another declaration of the
        same batch) nothing is created and the problem names it, e.g.
        `declarations[3].reference`. The answer lists the created declarations in the order
        sent. With an `Idempotency-Key` the answer is recorded in the same transaction."""
        return await declare_all(
            [intend(one, enterprise_id, config) for one in body.declarations],
            enterprise_id,
            claim_of(request),
            answer_of=lambda created: DeclarationBatchCreated(data=created),
            field_of=lambda i: f"declarations[{i}].reference",
        )

    @router.get(
        "/v1/declarations/{declaration_id}",
        response_model=DeclarationView,
        tags=["declarations"],
        responses=GONE,
    )
    async def get_declaration(declaration_id: str, enterprise_id: Enterprise) -> DeclarationView:
        """One declaration: status, each agency's step, figures as they are known."""
        return (await _views([await _owned_row(declaration_id, enterprise_id)]))[0]

    @router.get("/v1/declarations", response_model=DeclarationList, tags=["declarations"])
    async def list_declarations(
        enterprise_id: Enterprise,
        status: str | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: str | None = None,
    ) -> DeclarationList:
        """The enterprise's declarations, newest first, optionally of one status."""
        stmt = select(*(records.c[c] for c in _COLUMNS)).where(records.c.owner == enterprise_id)
        if status:
            stmt = stmt.where(records.c.status == status)
        if cursor:
            stmt = stmt.where(records.c.key < cursor)
        async with runtime.engine.connect() as conn:
            rows = (await conn.execute(stmt.order_by(records.c.key.desc()).limit(limit + 1))).all()
        page = await _views(rows[:limit])
        return DeclarationList(data=page, next_cursor=page[-1].id if len(rows) > limit else None)

    @router.get(
        "/v1/declarations/{declaration_id}/events",
        response_model=Timeline,
        tags=["declarations"],
        responses=GONE,
    )
    async def list_declaration_events(declaration_id: str, enterprise_id: Enterprise) -> Timeline:
        """Every message of the declaration's journey, in order; a re-sent command once."""
        await _owned_row(declaration_id, enterprise_id)
        async with runtime.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        journal.c.seq,
                        journal.c.direction,
                        journal.c.occurred_at,
                        journal.c.envelope,
                    )
                    .where(journal.c.declaration_id == declaration_id)
                    .order_by(journal.c.seq)
                )
            ).all()
        return Timeline(declaration_id=declaration_id, data=timeline_entries(rows))

    @router.post(
        "/v1/admin/enterprises",
        status_code=201,
        response_model=EnterpriseCreated,
        tags=["admin"],
        dependencies=[Depends(admin)],
    )
    async def create_enterprise(body: EnterpriseCreate, request: Request) -> Response:
        """Register an enterprise; its API key is shown once and stored hashed."""
        enterprise_id = "ent_" + secrets.token_hex(8)
        api_key = "sk_test_" + secrets.token_urlsafe(24)
        answer = Answer.to(request)

        def unit(conn: Connection) -> Response:
            add_enterprise(conn, enterprise_id=enterprise_id, name=body.name, api_key=api_key)
            created = EnterpriseCreated(id=enterprise_id, name=body.name, api_key=api_key)
            return answer(conn, created)

        response = await answer.kept(runtime.db.write(unit))
        keys[hash_key(api_key)] = enterprise_id
        return response

    @router.get(
        "/v1/admin/declarations",
        response_model=DeclarationList,
        tags=["admin"],
        dependencies=[Depends(admin)],
    )
    async def list_all_declarations(
        status: str = "stalled", limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> DeclarationList:
        """Declarations of every enterprise in one status (stalled by default), oldest first."""
        stmt = select(*(records.c[c] for c in _COLUMNS)).where(records.c.status == status)
        async with runtime.engine.connect() as conn:
            rows = (await conn.execute(stmt.order_by(records.c.key).limit(limit))).all()
        return DeclarationList(data=await _views(rows), next_cursor=None)

    async def _operate(
        request: Request,
        declaration_id: str,
        act: Callable[[Saga, float], tuple[Saga, Sequence[PendingStep]]],
    ) -> Response:
        answer = Answer.to(request)

        def unit(conn: Connection) -> tuple[Response, Sequence[OutRow]]:
            held = load_records(conn, [declaration_id]).get(declaration_id)
            if held is None:
                raise Problem(404, "not-found", "Not found", f"no declaration {declaration_id}")
            before = Saga.model_validate_json(held.data)
            try:
                now = time.time()
                after, steps = act(before, now)
            except (sagas.NotStalled, sagas.AlreadyEnded) as exc:
                raise Problem(
                    409, "not-applicable", "Not applicable", str(exc), state=before.state
                ) from exc
            changes = Changes()
            send_again = filings.commands(filings.reader(conn), after, steps)
            for envelope in send_again:
                changes.emit(envelope, at=now)
            changes.put(put_saga(after, held))
            changes.emit(status_event(after, None, before.state))
            done = OperatorAction(
                id=declaration_id,
                status=sagas.public_status(after),
                state=after.state,
                resent=[e.type for e in send_again],
            )
            return answer(conn, done), changes.apply(conn)

        return await answer.kept(run_on_saga(runtime, unit))

    @router.post(
        "/v1/admin/declarations/{declaration_id}/retry",
        response_model=OperatorAction,
        tags=["admin"],
        dependencies=[Depends(admin)],
    )
    async def retry_declaration(declaration_id: str, request: Request) -> Response:
        """Give a stalled declaration's unanswered steps a fresh set of tries, starting now."""

        def act(saga: Saga, now: float) -> tuple[Saga, Sequence[PendingStep]]:
            expiry = sagas.retry_stalled(saga, now=now, base_s=config.step_deadline_s)
            return expiry.saga, expiry.resend

        return await _operate(request, declaration_id, act)

    @router.post(
        "/v1/admin/declarations/{declaration_id}/cancel",
        response_model=OperatorAction,
        tags=["admin"],
        dependencies=[Depends(admin)],
    )
    async def cancel_declaration(
        declaration_id: str, request: Request, body: CancelRequest | None = None
    ) -> Response:
        """End a declaration that has not ended as `cancelled`; late answers are parked."""
        reason = (body or CancelRequest()).reason
        return await _operate(
            request, declaration_id, lambda saga, _now: (sagas.cancel(saga, reason=reason), [])
        )

    @router.get(
        "/v1/admin/deadletters",
        response_model=DeadLetterList,
        tags=["admin"],
        dependencies=[Depends(admin)],
    )
    async def list_dead_letters(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> DeadLetterList:
        """The newest dead letters of every service (per partition of sw.deadletter)."""
        found = await deadletters.read_letters(runtime.settings, limit=limit)
        return DeadLetterList(
            data=[DeadLetterView(id=i, **letter.model_dump()) for i, letter in found]
        )

    @router.post(
        "/v1/admin/deadletters/{letter_id}/replay",
        response_model=Replayed,
        status_code=202,
        tags=["admin"],
        dependencies=[Depends(admin)],
    )
    async def replay_dead_letter(letter_id: str, request: Request) -> Response:
        """Send a dead letter's message back to its topic, to be consumed again after a fix."""
        # Through the outbox, in the transaction that records the answer to an Idempotency-Key:
        # sent once for one key, even if the gateway dies meanwhile.
        try:
            position = deadletters.parse_letter_id(letter_id)
            found = await deadletters.read_letters(runtime.settings, limit=1, at=position)
        except deadletters.LetterNotFound as exc:
            raise Problem(404, "not-found", "Not found", str(exc)) from exc
        if not found:
            raise Problem(404, "not-found", "Not found", f"no dead letter {letter_id}")
        letter = found[0][1]
        if letter.message_id is not None:
            # A handler refused it and its service recorded it as handled, so that a redelivery
            # does not dead-letter it twice; sent again, it would be ignored as a duplicate.
            raise Problem(
                409,
                "not-replayable",
                "Not replayable",
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

    @router.get("/v1/scenarios", response_model=ScenarioList, tags=["sandbox"])
    async def list_scenarios() -> ScenarioList:
        """The sandbox's forced outcomes: what each `scenario` value makes the agencies do."""
        return ScenarioList(
            data=[ScenarioView(**info.as_dict()) for info in CATALOGUE],
            test_helpers=[
                HelperOutcomeView(
                    name=h.name, agency=h.agency, commands=list(h.commands), what=h.what
                )
                for h in HELPER_OUTCOMES
            ],
        )

    @router.get("/asyncapi.json", tags=["contracts"])
    async def get_asyncapi_document() -> dict[str, Any]:
        """The AsyncAPI 3 document of every topic and message."""
        return asyncapi_document()

    route = next(
        r
        for r in router.routes
        if isinstance(r, APIRoute) and r.path == "/v1/declarations" and r.methods == {"POST"}
    )
    return router, Lane(route, enterprise, accept)
