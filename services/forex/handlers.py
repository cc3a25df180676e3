"""Forex (外汇): settle export receipts and register import payments, once each."""

from __future__ import annotations

from datetime import timedelta, timezone
from decimal import Decimal

from schemas.envelope import Envelope, reply
from schemas.messages import PaymentRegistered, ReceiptSettled, RegisterPayment, SettleReceipt
from schemas.scenarios import withholds
from services.common.changes import Held, Put
from services.common.handling import Context, Handler, HandlerError, Outcome
from services.forex import rules
from services.forex.store import RATE_OVERRIDES, ForexRecord, RateOverrides

SOURCE = "forex"
BEIJING = timezone(timedelta(hours=8))


def reference(ctx: Context) -> rules.ForexReference:
    """The shipped rate tables with the administrator's rates laid over them (read in this
    unit, so every replica decides with the rates committed before it)."""
    held = ctx.record(RATE_OVERRIDES)
    shipped: rules.ForexReference = ctx.reference
    if held is None:
        return shipped
    return shipped.with_overrides(RateOverrides.model_validate_json(held.data).tables)


def _earlier(
    held: Held | None, kind: str, *, via_api: bool, declaration_id: str
) -> ForexRecord | None:
    """What earlier tranches settled, if this filing may top up a short receipt or payment."""
    if held is None:
        return None
    previous = ForexRecord.model_validate_json(held.data)
    if via_api and previous.kind == kind and previous.outstanding > 0:
        return previous
    code = "already_settled" if kind == "receipt" else "already_registered"
    raise HandlerError(code, f"the {kind} of {declaration_id} was made before")


def _refused(envelope: Envelope, ref: rules.ForexReference, currency: str | None) -> Outcome | None:
    """The bank's refusal of a filing (nothing recorded: the trader may file again), or None."""
    command = envelope.payload
    assert isinstance(command, SettleReceipt | RegisterPayment)
    refused = rules.refusal(
        fx_class=ref.fx_class(command.declarant_uscc),
        via_api=command.via_api,
        registration=command.registration_no,
        currency=currency or command.currency,
        declared_currency=command.currency,
    )
    return None if refused is None else Outcome(emit=[reply(envelope, refused, source=SOURCE)])


def _outcome(
    envelope: Envelope,
    event: ReceiptSettled | PaymentRegistered,
    *,
    kind: str,
    previous: ForexRecord | None,
    held: Held | None,
) -> Outcome:
    """Record the (cumulative) receipt or payment and answer with its event."""
    command = envelope.payload
    assert isinstance(command, SettleReceipt | RegisterPayment)
    before_amount = previous.amount if previous else Decimal(0)
    before_cny = previous.amount_cny if previous else Decimal(0)
    record = ForexRecord(
        kind=kind,
        entry_id=command.entry_id,
        amount=before_amount + event.amount,
        currency=event.currency,
        rate=event.rate,
        amount_cny=before_cny + event.amount_cny,
        declared=event.declared,
        match=event.match,
        outstanding=event.outstanding,
        held=event.held,
        fx_class=event.fx_class,
        registration_no=event.registration_no,
        tranches=event.tranche,
    )
    status = "settled" if kind == "receipt" else "registered"
    put = Put.of(envelope.declaration_id, record, status=status, previous=held)
    return Outcome(put=put, emit=[reply(envelope, event, source=SOURCE)])


def settle_receipt(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
    """Match the receipt to the declaration and settle it into CNY; a filed receipt may top up
    a partial one (a later tranche)."""
    command = envelope.payload
    assert isinstance(command, SettleReceipt)
    if withholds(command.scenario, SOURCE):
        return Outcome()  # sandbox stall: no answer; a test helper's new command decides
    previous = _earlier(
        held, "receipt", via_api=command.via_api, declaration_id=envelope.declaration_id
    )
    ref = reference(ctx)
    refused = _refused(envelope, ref, command.received_currency)
    if refused is not None:
        return refused
    on = command.received_on or ctx.now.astimezone(BEIJING).date()
    received, days = command.received, command.days_after_export
    if received is None or days is None:
        simulated, simulated_days = rules.simulated_receipt(
            command.amount,
            scenario=command.scenario,
            ref=ref,
            rng=ctx.rng(envelope.declaration_id, "forex.receipt"),
            share=command.buyer_share,
        )
        received = simulated if received is None else received
        if days is None:
            days = rules.receipt_days(simulated_days, released_on=command.released_on, on=on)
    try:
        event = rules.settle(
            command.amount,
            command.currency,
            ref,
            received=received,
            days_after_export=days,
            uscc=command.declarant_uscc,
            on=on,
            declaration_id=envelope.declaration_id,
            registration=command.registration_no,
            earlier=previous.amount if previous else Decimal(0),
            tranche=previous.tranches + 1 if previous else 1,
        )
    except rules.NoRate as exc:
        raise HandlerError("no_rate", str(exc)) from exc
    return _outcome(envelope, event, kind="receipt", previous=previous, held=held)


def register_payment(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
    """Register the import payment abroad against the declaration; a filed payment may top up
    a short one (a later tranche)."""
    command = envelope.payload
    assert isinstance(command, RegisterPayment)
    if withholds(command.scenario, SOURCE):
        return Outcome()  # sandbox stall: no answer; a test helper's new command decides
    previous = _earlier(
        held, "payment", via_api=command.via_api, declaration_id=envelope.declaration_id
    )
    ref = reference(ctx)
    refused = _refused(envelope, ref, command.paid_currency)
    if refused is not None:
        return refused
    try:
        event = rules.register_payment(
            command.amount,
            command.currency,
            ref,
            paid=command.paid,
            uscc=command.declarant_uscc,
            on=command.paid_on or ctx.now.astimezone(BEIJING).date(),
            declaration_id=envelope.declaration_id,
            registration=command.registration_no,
            earlier=previous.amount if previous else Decimal(0),
            tranche=previous.tranches + 1 if previous else 1,
        )
    except rules.NoRate as exc:
        raise HandlerError("no_rate", str(exc)) from exc
    return _outcome(envelope, event, kind="payment", previous=previous, held=held)


HANDLERS: dict[str, Handler] = {
    SettleReceipt.TYPE: settle_receipt,
    RegisterPayment.TYPE: register_payment,
}
