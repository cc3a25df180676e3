"""Test helpers' pure half: push a pending step to a forced outcome by re-sending its command.

The gateway never writes an agency's answer itself: it sends the agency a new command (a new
id, so the agency's inbox does not take it for the old one) that names the outcome in its
`scenario`, and the agency decides with its own rules. The new command supersedes the pending
one, so whichever answer comes first resolves the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from gateway.core.errors import NoPendingStep
from gateway.saga import TERMINAL, Saga, filings, stall_reason
from schemas.base import Command
from schemas.envelope import Envelope, new_envelope
from schemas.messages import FileDeclaration, RegisterPayment, SettleReceipt
from schemas.scenarios import HelperOutcome
from schemas.trade import DeclarationData

SOURCE = "gateway"


@dataclass(frozen=True)
class Forcing:
    """The saga after a test helper forced a step, the command to send, the one it replaces."""

    saga: Saga
    send: Envelope
    supersedes: str


def forced_command(command: Command, outcome: HelperOutcome, share: Decimal | None) -> Command:
    """The pending command again, telling the agency the outcome to decide."""
    if isinstance(command, FileDeclaration):
        declaration = command.declaration.model_copy(update={"scenario": outcome.scenario})
        return command.model_copy(update={"declaration": declaration})
    if isinstance(command, SettleReceipt):
        paid_share = share if share is not None else Decimal(1)
        return command.model_copy(
            update={
                "scenario": outcome.scenario,
                "buyer_share": paid_share,
                "received": None,
                "days_after_export": None,
            }
        )
    if isinstance(command, RegisterPayment):
        paid_share = share if share is not None else Decimal(1)
        paid = (command.amount * paid_share).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        return command.model_copy(update={"scenario": outcome.scenario, "paid": paid})
    return command.model_copy(update={"scenario": outcome.scenario})


def force(
    saga: Saga,
    outcome: HelperOutcome,
    *,
    share: Decimal | None,
    now: float,
    step_deadline_s: float,
    filing: DeclarationData | None = None,
) -> Forcing:
    """Replace the pending (or held) step `outcome` answers with a forced command, sent now."""
    if saga.state in TERMINAL:
        raise NoPendingStep(
            f"declaration {saga.declaration_id} has ended ({saga.state})", state=saga.state
        )
    held = saga.paced.held if saga.paced else ()
    step = next((p for p in (*saga.pending, *held) if p.type in outcome.commands), None)
    if step is None:
        waiting = [p.type for p in (*saga.pending, *held)] or ["nothing"]
        raise NoPendingStep(
            f"{outcome.name} answers {' or '.join(outcome.commands)}, and declaration "
            f"{saga.declaration_id} (state {saga.state}) waits for {', '.join(waiting)}",
            state=saga.state,
        )
    old = filings.command_of(step, filing, saga.lines)
    assert isinstance(old.payload, Command)
    envelope = new_envelope(
        forced_command(old.payload, outcome, share),
        declaration_id=saga.declaration_id,
        source=SOURCE,
        correlation_id=old.correlation_id,
        causation_id=old.causation_id,
        clock_offset_s=saga.clock_offset_s,
    )
    fresh = filings.pending(
        envelope,
        saga.lines,
        deadline=now + step_deadline_s,
        supersedes=(*step.supersedes, step.command_id),
    )
    pending = (*(p for p in saga.pending if p.command_id != step.command_id), fresh)
    paced = saga.paced
    if paced is not None and step in paced.held:
        rest = tuple(p for p in paced.held if p.command_id != step.command_id)
        paced = paced.model_copy(
            update={"held": rest, "release_at": paced.release_at if rest else None}
        )
    # The forced step has a deadline again: the saga is stalled only while another is not.
    stalled = stall_reason(pending, saga.stalled_reason)
    moved = saga.model_copy(update={"pending": pending, "paced": paced, "stalled_reason": stalled})
    return Forcing(moved, envelope, step.command_id)
