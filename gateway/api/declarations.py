"""Declarations under /v1: submit one or a batch, read one, list them, their timelines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import Connection

from gateway import saga as sagas
from gateway.api import store
from gateway.api.timeline import timeline_entries
from gateway.core.config import GatewayConfig
from gateway.core.deps import ConfigDep, Enterprise, RuntimeDep
from gateway.core.errors import Gone, NotFound
from gateway.core.idempotency import Answer, Claim, claim_of
from gateway.saga import Saga, filings
from gateway.saga.declare import Intent, declare, intend
from schemas.api import (
    DeclarationBatchCreated,
    DeclarationBatchRequest,
    DeclarationCreated,
    DeclarationList,
    DeclarationRequest,
    DeclarationView,
    Timeline,
)
from schemas.envelope import Envelope
from schemas.trade import DeclarationData
from services.common import tracing
from services.common.changes import Changes, OutRow
from services.common.retention import past_retention
from services.common.runtime import Runtime

router = APIRouter(tags=["declarations"])

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


async def views(runtime: Runtime, rows: Sequence[Any]) -> list[DeclarationView]:
    """The views of saga rows, with their declarations as filed."""
    ids = [r.key for r in rows]
    filed = await store.read(runtime, lambda conn: filings.filings(conn, ids))
    return [_view(r, filed) for r in rows]


async def owned_row(runtime: Runtime, declaration_id: str, owner: str) -> Any:
    """The saga record of the caller's declaration: 404 if none (or another's), 410 if purged."""
    row = await store.read(
        runtime, lambda conn: store.declaration_row(conn, declaration_id=declaration_id)
    )
    if row is None and past_retention(declaration_id, runtime.policy.retention_s):
        raise Gone(
            f"declaration {declaration_id} was made before the retention period "
            f"(SW_RETENTION_DAYS={runtime.settings.retention_days:g} days after a "
            "declaration ends) and is no longer held: it was purged",
        )
    if row is None or row.owner != owner:
        # Another enterprise's declaration is as invisible as one that does not exist.
        raise NotFound(f"no declaration {declaration_id}")
    return row


async def declare_all(
    runtime: Runtime,
    config: GatewayConfig,
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


async def accept(
    runtime: Runtime,
    config: GatewayConfig,
    body: DeclarationRequest,
    enterprise_id: str,
    held: Claim | None,
) -> Response:
    """`POST /v1/declarations`'s body: the route's and the accept lane's (gateway/api/accept.py)."""
    return await declare_all(
        runtime,
        config,
        [intend(body, enterprise_id, config)],
        enterprise_id,
        held,
        answer_of=lambda created: created[0],
        field_of=lambda _: "reference",
    )


@router.post("/v1/declarations", status_code=202, response_model=DeclarationCreated)
async def create_declaration(
    body: DeclarationRequest,
    enterprise_id: Enterprise,
    request: Request,
    runtime: RuntimeDep,
    config: ConfigDep,
) -> Any:
    """Submit one declaration; it is processed asynchronously (202).

    With an `Idempotency-Key`, its answer is recorded in the submission's own transaction:
    a declaration is never created twice for one key, even if the gateway dies before
    answering."""
    return await accept(runtime, config, body, enterprise_id, claim_of(request))


@router.post("/v1/declarations/batch", status_code=202, response_model=DeclarationBatchCreated)
async def create_declaration_batch(
    body: DeclarationBatchRequest,
    enterprise_id: Enterprise,
    request: Request,
    runtime: RuntimeDep,
    config: ConfigDep,
) -> Any:
    """Submit up to 500 declarations in one request, all or none (202).

    Each is validated and declared as `POST /v1/declarations` would; if one is refused
    (an invalid field, a reference already in use, also by another declaration of the
    same batch) nothing is created and the problem names it, e.g.
    `declarations[3].reference`. The answer lists the created declarations in the order
    sent. With an `Idempotency-Key` the answer is recorded in the same transaction."""
    return await declare_all(
        runtime,
        config,
        [intend(one, enterprise_id, config) for one in body.declarations],
        enterprise_id,
        claim_of(request),
        answer_of=lambda created: DeclarationBatchCreated(data=created),
        field_of=lambda i: f"declarations[{i}].reference",
    )


@router.get("/v1/declarations/{declaration_id}", response_model=DeclarationView, responses=GONE)
async def get_declaration(
    declaration_id: str, enterprise_id: Enterprise, runtime: RuntimeDep
) -> DeclarationView:
    """One declaration: status, each agency's step, figures as they are known."""
    return (await views(runtime, [await owned_row(runtime, declaration_id, enterprise_id)]))[0]


@router.get("/v1/declarations", response_model=DeclarationList)
async def list_declarations(
    enterprise_id: Enterprise,
    runtime: RuntimeDep,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> DeclarationList:
    """The enterprise's declarations, newest first, optionally of one status."""
    rows = await store.read(
        runtime,
        lambda conn: store.declaration_rows(
            conn,
            owner=enterprise_id,
            status=status or None,
            before=cursor,
            limit=limit + 1,
            newest_first=True,
        ),
    )
    page = await views(runtime, rows[:limit])
    return DeclarationList(data=page, next_cursor=page[-1].id if len(rows) > limit else None)


@router.get("/v1/declarations/{declaration_id}/events", response_model=Timeline, responses=GONE)
async def list_declaration_events(
    declaration_id: str, enterprise_id: Enterprise, runtime: RuntimeDep
) -> Timeline:
    """Every message of the declaration's journey, in order; a re-sent command once."""
    await owned_row(runtime, declaration_id, enterprise_id)
    rows = await store.read(
        runtime, lambda conn: store.journal_lines(conn, declaration_id=declaration_id)
    )
    return Timeline(declaration_id=declaration_id, data=timeline_entries(rows))
