"""Declaring: a submitted declaration becomes a saga, its first commands and its status.

One submission (`POST /v1/declarations`) and a batch (`POST /v1/declarations/batch`) go
through the same two steps: `intend` (outside the transaction: pace, forced delay, id) and
`declare` (inside it: the reference claimed, the saga started, everything added to Changes).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from gateway import saga as sagas
from gateway.core.config import GatewayConfig
from gateway.core.errors import ReferenceInUse
from gateway.core.store import claim_reference, clock_offset
from gateway.saga import pace
from gateway.saga.handlers import SOURCE, encoded, put_saga, send, status_event
from schemas.api import DeclarationCreated, DeclarationRequest, Pace
from schemas.envelope import Envelope, new_envelope
from schemas.ids import uuid7
from schemas.messages import DeclarationSubmitted
from schemas.scenarios import forced_outcome
from schemas.trade import DeclarationData
from services.common.changes import Changes


@dataclass(frozen=True)
class Intent:
    """A validated submission, ready to declare: its id and the pace it runs at."""

    declaration_id: str
    declaration: DeclarationData
    run_pace: Pace
    stage_s: float | None


def intend(body: DeclarationRequest, enterprise_id: str, config: GatewayConfig) -> Intent:
    """What a submission asks for: the declaration, its pace (the request's, the run's, or a
    sandbox `delayed` outcome's), and the id it will have."""
    # The request was validated as a DeclarationData (its subclass): take its fields as they
    # are rather than dump and validate them a second time.
    declaration = DeclarationData.model_construct(
        body.model_fields_set - {"pace"},
        **{name: getattr(body, name) for name in DeclarationData.model_fields},
    )
    run_pace = body.pace or config.run_pace.get(enterprise_id, Pace.INSTANT)
    force = forced_outcome(declaration.scenario, declaration.reference)
    stage_s: float | None = None
    if force is not None and force.delay_s is not None and body.pace is None:
        run_pace, stage_s = Pace.DEMO, float(force.delay_s)  # sandbox `delayed`
    return Intent(uuid7(), declaration, run_pace, stage_s)


def declare(
    conn: Connection,
    changes: Changes,
    *,
    enterprise_id: str,
    intent: Intent,
    config: GatewayConfig,
    field: str = "reference",
) -> tuple[DeclarationCreated, Envelope]:
    """Claim the reference, start the saga, add its record, commands and status to `changes`.

    Writes nothing itself (the claim is written with `changes`): a refusal (the reference in
    use, ReferenceInUse naming `field`) leaves nothing to roll back.
    """
    declaration, declaration_id = intent.declaration, intent.declaration_id
    if declaration.reference is not None:
        taken = claim_reference(
            conn,
            changes,
            enterprise_id=enterprise_id,
            reference=declaration.reference,
            declaration_id=declaration_id,
        )
        if taken is not None:
            raise ReferenceInUse(
                f"reference {declaration.reference!r} is already the reference of declaration "
                f"{taken}; references are unique per enterprise",
                field=field,
                declaration_id=taken,
            )
    submitted = new_envelope(
        DeclarationSubmitted(enterprise_id=enterprise_id, declaration=declaration),
        declaration_id=declaration_id,
        source=SOURCE,
    )
    begun = sagas.start(
        declaration_id,
        enterprise_id,
        declaration,
        paced=pace.pacing(intent.run_pace, stage_s=intent.stage_s),
    )
    started = begun.saga.model_copy(
        update={"clock_offset_s": clock_offset(conn, enterprise_id=enterprise_id)}
    )
    now = submitted.occurred_at.timestamp()
    saga, commands = send(
        started,
        begun.commands,
        cause=submitted,
        config=config,
        now=now,
    )
    if saga.paced is not None:  # a class's pace: even the filing waits its turn
        saga, commands = pace.hold(saga, commands, now=now, demo_stage_s=config.demo_stage_s)
    changes.log(submitted, "in")
    changes.put(put_saga(saga, None))
    values = encoded(saga, commands)
    for command in commands:
        changes.emit(command, value=values.get(command.id))
    changes.emit(status_event(saga, submitted, None))
    created = DeclarationCreated(
        id=declaration_id,
        status=sagas.public_status(saga),
        created_at=submitted.occurred_at,
        links={
            "self": f"/v1/declarations/{declaration_id}",
            "events": f"/v1/declarations/{declaration_id}/events",
        },
    )
    return created, submitted
