"""Tax (税务): export refunds and import taxes, each at most once per declaration."""

from __future__ import annotations

from decimal import Decimal

from schemas.envelope import Envelope, reply
from schemas.messages import ApplyRefund, AssessImportTaxes, RefundPaid
from services.common.changes import Held, Put
from services.common.handling import Context, Handler, HandlerError, Outcome
from services.tax import rules
from services.tax.store import TaxRecord

SOURCE = "tax"


def apply_refund(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
    """Decide and pay the export VAT refund; a declaration is refunded at most once."""
    command = envelope.payload
    assert isinstance(command, ApplyRefund)
    if held is not None:
        raise HandlerError(
            "already_decided", f"refund of {envelope.declaration_id} was decided before"
        )
    decision = rules.export_refund(command.lines, scenario=command.scenario, ref=ctx.reference)
    if isinstance(decision, RefundPaid):
        record = TaxRecord(
            kind="refund", entry_id=command.entry_id, outcome="paid", amount=decision.refund.amount
        )
    else:
        record = TaxRecord(
            kind="refund",
            entry_id=command.entry_id,
            outcome="denied",
            amount=Decimal(0),
            reason_code=decision.reason_code,
        )
    put = Put.of(envelope.declaration_id, record, status=f"refund_{record.outcome}", previous=None)
    return Outcome(put=put, emit=[reply(envelope, decision, source=SOURCE)])


def assess_import(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
    """Assess and collect import duty, consumption tax and VAT."""
    command = envelope.payload
    assert isinstance(command, AssessImportTaxes)
    if held is not None:
        raise HandlerError(
            "already_assessed", f"taxes of {envelope.declaration_id} were assessed before"
        )
    event = rules.import_taxes(command.lines, ref=ctx.reference)
    record = TaxRecord(
        kind="import", entry_id=command.entry_id, outcome="collected", amount=event.total
    )
    put = Put.of(envelope.declaration_id, record, status="import_collected", previous=None)
    return Outcome(put=put, emit=[reply(envelope, event, source=SOURCE)])


HANDLERS: dict[str, Handler] = {
    ApplyRefund.TYPE: apply_refund,
    AssessImportTaxes.TYPE: assess_import,
}
