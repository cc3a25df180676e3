"""Inspection & quarantine: inspect the goods customs sends, once."""

from __future__ import annotations

from schemas.envelope import Envelope, reply
from schemas.messages import InspectGoods, InspectionPassed
from services.common.changes import Held, Put
from services.common.handling import Context, Outcome, by_command, only_once
from services.inspection import rules
from services.inspection.store import InspectionRecord

SOURCE = "inspection"


def inspect_goods(
    command: InspectGoods, envelope: Envelope, held: Held | None, ctx: Context
) -> Outcome:
    """Inspect the goods and report pass (with certificate) or fail (with reason)."""
    only_once(
        held, "already_inspected", f"goods of {envelope.declaration_id} were inspected before"
    )
    result = rules.inspect(
        declaration_id=envelope.declaration_id,
        direction=command.direction,
        scenario=command.scenario,
        ref=ctx.reference,
        rng=ctx.rng(envelope.declaration_id, "inspection.result"),
        lines=command.lines,
        physical=command.physical,
        certificate=command.certificate_of_origin,
        destination=command.destination or "",
        when=ctx.now,
    )
    if isinstance(result, InspectionPassed):
        record = InspectionRecord(
            result="passed",
            reason=command.reason,
            certificate_no=result.certificate_no,
            origin_certificate_no=result.origin.number if result.origin else None,
        )
    else:
        record = InspectionRecord(
            result="failed", reason=command.reason, failure_code=result.reason_code
        )
    put = Put.of(envelope.declaration_id, record, status=record.result, previous=None)
    return Outcome(put=put, emit=[reply(envelope, result, source=SOURCE)])


HANDLERS = by_command(SOURCE, {InspectGoods: inspect_goods})
