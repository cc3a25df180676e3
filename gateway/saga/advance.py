"""Advancing: a new saga, and a pure `advance(saga, event)` through its table."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.saga.commands import build_command, filing_command
from gateway.saga.deadlines import stall_reason
from gateway.saga.facts import facts
from gateway.saga.model import Paced, Saga, UnexpectedEvent, brief_of, sandbox_day
from gateway.saga.table import GUARDS, Transition, table_for
from schemas.base import Command, Event
from schemas.envelope import Envelope
from schemas.messages import (
    Figures,
    GoodsReleased,
)
from schemas.trade import (
    DeclarationData,
)


@dataclass(frozen=True)
class Advance:
    """The saga after an event, and the commands to send."""

    saga: Saga
    commands: tuple[Command, ...]


def start(
    declaration_id: str,
    enterprise_id: str,
    declaration: DeclarationData,
    *,
    paced: Paced | None = None,
) -> Advance:
    """A new saga waiting for customs (at a class's pace, if `paced`), and the filing command."""
    saga = Saga(
        declaration_id=declaration_id,
        enterprise_id=enterprise_id,
        brief=brief_of(declaration),
        state="customs_review",
        steps={"customs": "pending", "inspection": "waiting", "forex": "waiting", "tax": "waiting"},
        figures=Figures(declared_value=declaration.total_value, currency=declaration.currency),
        paced=paced,
    )
    return Advance(saga, (filing_command(declaration, may_clear=paced is None),))


def transition_for(saga: Saga, event: Event) -> Transition:
    """The row of the table that applies, or UnexpectedEvent."""
    for row in table_for(saga.brief):
        if (
            row.state == saga.state
            and row.on == event.TYPE
            and (row.when is None or GUARDS[row.when](event))
        ):
            return row
    raise UnexpectedEvent(f"no transition from state {saga.state!r} on {event.TYPE}")


def advance(saga: Saga, envelope: Envelope) -> Advance:
    """Apply one event: resolve its pending step, fold its facts, move state, name the commands."""
    event = envelope.payload
    if not isinstance(event, Event):
        raise UnexpectedEvent(f"{envelope.type} is not an event")
    row = transition_for(saga, event)
    answered = envelope.causation_id
    # A command whose agency goes on by itself stays pending until its last answer.
    pending = (
        saga.pending
        if row.expects
        else tuple(
            p for p in saga.pending if p.command_id != answered and answered not in p.supersedes
        )
    )
    # The event's facts and the move in one copy of the saga (each copy costs as much as
    # the table look-up and the facts together).
    update = facts(saga, event)
    update.update(
        state=row.to,
        pending=pending,
        # Still stalled while any step that ran out of tries (deadline None) is unanswered,
        # and the reason names one of those, not the step that has just answered.
        stalled_reason=stall_reason(pending, saga.stalled_reason),
        events_seen=saga.events_seen + 1,
    )
    if isinstance(event, GoodsReleased):
        update["released_on"] = sandbox_day(envelope).isoformat()
    moved = saga.model_copy(update=update)
    commands = tuple(build_command(c, moved) for c in row.commands)
    busy = [c.TYPE for c in commands] + list(row.expects)
    if busy:
        steps = dict(moved.steps)
        for type_ in busy:
            steps[type_.split(".", 1)[0]] = "pending"
        moved = moved.model_copy(update={"steps": steps})
    return Advance(moved, commands)
