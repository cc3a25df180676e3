"""Tax (税务): export refunds and import taxes, each at most once per declaration."""

from __future__ import annotations

from decimal import Decimal

from schemas.envelope import Envelope, reply
from schemas.messages import (
    ApplyRefund,
    AssessImportTaxes,
    ExportExempted,
    RefundDenied,
    RefundPaid,
    RegisterReturn,
)
from schemas.trade import TradeMode
from schemas.units import BEIJING
from services.common.changes import Held, Put
from services.common.handling import Context, HandlerError, Outcome, by_command, only_once
from services.tax import rules
from services.tax.store import BuyerYear, TaxRecord, quota_key

SOURCE = "tax"


def apply_refund(
    command: ApplyRefund, envelope: Envelope, held: Held | None, ctx: Context
) -> Outcome:
    """Decide and pay the export VAT refund; a declaration is refunded at most once."""
    only_once(held, "already_decided", f"refund of {envelope.declaration_id} was decided before")
    decision = rules.export_refund(
        command.lines,
        scenario=command.scenario,
        ref=ctx.reference,
        trade_mode=command.trade_mode or TradeMode.GENERAL,
        uscc=command.declarant_uscc or "",
        filing=command.filing,
        customs_closed=command.customs_closed,
        forex_settled=command.forex_settled,
    )
    paid = decision if isinstance(decision, RefundPaid) else None
    record = TaxRecord(
        kind="refund",
        entry_id=command.entry_id,
        outcome="paid"
        if paid
        else "exempted"
        if isinstance(decision, ExportExempted)
        else "denied",
        amount=paid.refund.amount if paid else Decimal(0),
        method=paid.method if paid else None,
        reason_code=decision.reason_code if isinstance(decision, RefundDenied) else None,
    )
    put = Put.of(envelope.declaration_id, record, status=f"refund_{record.outcome}", previous=None)
    return Outcome(put=put, emit=[reply(envelope, decision, source=SOURCE)])


def _buyer_year(ctx: Context, buyer_id: str, year: int) -> tuple[BuyerYear, Held | None]:
    held = ctx.record(quota_key(buyer_id, year))
    if held is None:
        return BuyerYear(buyer_id=buyer_id, year=year), None
    return BuyerYear.model_validate_json(held.data), held


def _ledger_put(
    ledger: BuyerYear, held: Held | None, *, used: Decimal, orders: dict[str, Decimal]
) -> Put:
    updated = ledger.model_copy(update={"used": used, "orders": orders})
    return Put.of(quota_key(ledger.buyer_id, ledger.year), updated, status="open", previous=held)


def assess_import(
    command: AssessImportTaxes, envelope: Envelope, held: Held | None, ctx: Context
) -> Outcome:
    """Assess and collect import duty, consumption tax and VAT (CEB816 tax bill for CBEC).

    A retail import counts toward its buyer's year (a ledger record of its own), and is refused
    (T301) when it would take the year over the annual limit.
    """
    only_once(held, "already_assessed", f"taxes of {envelope.declaration_id} were assessed before")
    mode = command.trade_mode or TradeMode.GENERAL
    today = ctx.now.astimezone(BEIJING).date()
    retail = mode in rules.CBEC_RETAIL_IMPORT and command.buyer_id is not None
    ledger, ledger_held = (
        _buyer_year(ctx, command.buyer_id, today.year)
        if retail and command.buyer_id
        else (None, None)
    )
    year_to_date = ledger.used if ledger else Decimal(0)
    refused = (
        rules.annual_limit_refusal(command.lines, ref=ctx.reference, year_to_date=year_to_date)
        if mode in rules.CBEC_RETAIL_IMPORT
        else None
    )
    if refused is not None:
        record = TaxRecord(
            kind="import",
            entry_id=command.entry_id,
            outcome="refused",
            amount=Decimal(0),
            reason_code=refused.reason_code,
            buyer_id=command.buyer_id,
        )
        put = Put.of(envelope.declaration_id, record, status="import_refused", previous=None)
        return Outcome(put=put, emit=[reply(envelope, refused, source=SOURCE)])
    event = rules.import_taxes(
        command.lines, ref=ctx.reference, trade_mode=mode, year_to_date=year_to_date
    )
    counted = sum((line.value_cny for line in command.lines), Decimal(0))
    record = TaxRecord(
        kind="import",
        entry_id=command.entry_id,
        outcome="collected",
        amount=event.total,
        method=event.regime,
        buyer_id=command.buyer_id,
        counted=counted if ledger else None,
        assessed_on=today,
    )
    also = []
    if ledger is not None:
        orders = {**ledger.orders, envelope.declaration_id: counted}
        also.append(_ledger_put(ledger, ledger_held, used=ledger.used + counted, orders=orders))
    put = Put.of(envelope.declaration_id, record, status="import_collected", previous=None)
    return Outcome(put=put, emit=[reply(envelope, event, source=SOURCE)], also=also)


def register_return(
    command: RegisterReturn, envelope: Envelope, held: Held | None, ctx: Context
) -> Outcome:
    """A retail import returned (CEB625): within the window refund the tax, restore the quota."""
    record = TaxRecord.model_validate_json(held.data) if held is not None else None
    if record is None or record.outcome != "collected" or record.assessed_on is None:
        raise HandlerError(
            "not_returnable", f"no retail import taxes were collected for {envelope.declaration_id}"
        )
    if record.returned_on is not None:
        raise HandlerError("already_returned", f"{envelope.declaration_id} was returned before")
    ledger, ledger_held = (
        _buyer_year(ctx, record.buyer_id, record.assessed_on.year)
        if record.buyer_id and record.counted is not None
        else (None, None)
    )
    counted = record.counted or Decimal(0)
    event = rules.assess_return(
        counted=counted,
        tax_paid=record.amount,
        year_to_date=ledger.used if ledger else counted,
        released=record.assessed_on,
        returned=command.returned_on,
        ref=ctx.reference,
    )
    also = []
    if ledger is not None and event.within_window:
        orders = {k: v for k, v in ledger.orders.items() if k != envelope.declaration_id}
        also.append(_ledger_put(ledger, ledger_held, used=event.quota.base, orders=orders))
    updated = record.model_copy(update={"returned_on": command.returned_on})
    status = "import_returned" if event.within_window else "import_return_late"
    put = Put.of(envelope.declaration_id, updated, status=status, previous=held)
    return Outcome(put=put, emit=[reply(envelope, event, source=SOURCE)], also=also)


HANDLERS = by_command(
    SOURCE,
    {ApplyRefund: apply_refund, AssessImportTaxes: assess_import, RegisterReturn: register_return},
)
