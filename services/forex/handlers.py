"""Forex (外汇): settle export receipts and register import payments, once each."""

from __future__ import annotations

from datetime import timedelta, timezone

from schemas.envelope import Envelope, reply
from schemas.messages import RegisterPayment, SettleReceipt
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


def settle_receipt(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
    """Match the receipt to the declaration and settle it into CNY."""
    command = envelope.payload
    assert isinstance(command, SettleReceipt)
    if held is not None:
        raise HandlerError(
            "already_settled", f"declaration {envelope.declaration_id} was settled before"
        )
    ref = reference(ctx)
    refused = rules.refusal(
        fx_class=ref.fx_class(command.declarant_uscc),
        via_api=command.via_api,
        registration=command.registration_no,
        currency=command.received_currency or command.currency,
        declared_currency=command.currency,
    )
    if refused is not None:  # nothing recorded: the trader may file it again
        return Outcome(emit=[reply(envelope, refused, source=SOURCE)])
    received, days = command.received, command.days_after_export
    if received is None or days is None:
        simulated, simulated_days = rules.simulated_receipt(
            command.amount,
            scenario=command.scenario,
            ref=ref,
            rng=ctx.rng(envelope.declaration_id, "forex.receipt"),
        )
        received = simulated if received is None else received
        days = simulated_days if days is None else days
    try:
        event = rules.settle(
            command.amount,
            command.currency,
            ref,
            received=received,
            days_after_export=days,
            uscc=command.declarant_uscc,
            on=command.received_on or ctx.now.astimezone(BEIJING).date(),
            declaration_id=envelope.declaration_id,
            registration=command.registration_no,
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
        held=event.held,
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
    ref = reference(ctx)
    refused = rules.refusal(
        fx_class=ref.fx_class(command.declarant_uscc),
        via_api=command.via_api,
        registration=command.registration_no,
        currency=command.paid_currency or command.currency,
        declared_currency=command.currency,
    )
    if refused is not None:  # nothing recorded: the trader may file it again
        return Outcome(emit=[reply(envelope, refused, source=SOURCE)])
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
        outstanding=event.outstanding,
        held=event.held,
        fx_class=event.fx_class,
        registration_no=event.registration_no,
    )
    put = Put.of(envelope.declaration_id, record, status="registered", previous=None)
    return Outcome(put=put, emit=[reply(envelope, event, source=SOURCE)])


HANDLERS: dict[str, Handler] = {
    SettleReceipt.TYPE: settle_receipt,
    RegisterPayment.TYPE: register_payment,
}
