"""Forex (外汇): settle export receipts and register import payments, once each."""

from __future__ import annotations

from datetime import timedelta, timezone

from schemas.envelope import Envelope, reply
from schemas.messages import RegisterPayment, SettleReceipt
from schemas.scenarios import withholds
from services.common.changes import Held, Put
from services.common.handling import Context, Handler, HandlerError, Outcome
from services.forex import rules
from services.forex.store import ForexRecord

SOURCE = "forex"
BEIJING = timezone(timedelta(hours=8))


def settle_receipt(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
    """Match the receipt to the declaration and settle it into CNY."""
    command = envelope.payload
    assert isinstance(command, SettleReceipt)
    if held is not None:
        raise HandlerError(
            "already_settled", f"declaration {envelope.declaration_id} was settled before"
        )
    if withholds(command.scenario, SOURCE):
        return Outcome()  # sandbox stall: no answer; a test helper's new command decides
    received, days = command.received, command.days_after_export
    if received is None or days is None:
        simulated, simulated_days = rules.simulated_receipt(
            command.amount,
            scenario=command.scenario,
            ref=ctx.reference,
            rng=ctx.rng(envelope.declaration_id, "forex.receipt"),
            share=command.buyer_share,
        )
        received = simulated if received is None else received
        days = simulated_days if days is None else days
    try:
        event = rules.settle(
            command.amount,
            command.currency,
            ctx.reference,
            received=received,
            days_after_export=days,
            uscc=command.declarant_uscc,
            on=ctx.now.astimezone(BEIJING).date(),
            declaration_id=envelope.declaration_id,
        )
    except rules.NoRate as exc:
        raise HandlerError("no_rate", str(exc)) from exc
    record = ForexRecord(
        kind="receipt",
        entry_id=command.entry_id,
        amount=event.amount,
        currency=event.currency,
        rate=event.rate,
        amount_cny=event.amount_cny,
        declared=event.declared,
        match=event.match,
        outstanding=event.outstanding,
        fx_class=event.fx_class,
        registration_no=event.registration_no,
    )
    put = Put.of(envelope.declaration_id, record, status="settled", previous=None)
    return Outcome(put=put, emit=[reply(envelope, event, source=SOURCE)])


def register_payment(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
    """Register the import payment abroad against the declaration."""
    command = envelope.payload
    assert isinstance(command, RegisterPayment)
    if held is not None:
        raise HandlerError(
            "already_registered", f"payment of {envelope.declaration_id} was registered before"
        )
    if withholds(command.scenario, SOURCE):
        return Outcome()  # sandbox stall: no answer; a test helper's new command decides
    try:
        event = rules.register_payment(
            command.amount,
            command.currency,
            ctx.reference,
            paid=command.paid,
            uscc=command.declarant_uscc,
            on=ctx.now.astimezone(BEIJING).date(),
            declaration_id=envelope.declaration_id,
        )
    except rules.NoRate as exc:
        raise HandlerError("no_rate", str(exc)) from exc
    record = ForexRecord(
        kind="payment",
        entry_id=command.entry_id,
        amount=event.amount,
        currency=event.currency,
        rate=event.rate,
        amount_cny=event.amount_cny,
        declared=event.declared,
        match=event.match,
        fx_class=event.fx_class,
        registration_no=event.registration_no,
    )
    put = Put.of(envelope.declaration_id, record, status="registered", previous=None)
    return Outcome(put=put, emit=[reply(envelope, event, source=SOURCE)])


HANDLERS: dict[str, Handler] = {
    SettleReceipt.TYPE: settle_receipt,
    RegisterPayment.TYPE: register_payment,
}
