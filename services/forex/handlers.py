"""Forex (外汇): settle export receipts and register import payments, once each."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from schemas.envelope import Envelope, reply
from schemas.messages import (
    ForexFiling,
    ForexMatched,
    PaymentRegistered,
    ReceiptSettled,
    RegisterPayment,
    SettleReceipt,
)
from schemas.units import BEIJING, ZERO
from services.common.changes import Held, Put
from services.common.handling import Context, HandlerError, Outcome, by_command
from services.forex import rules
from services.forex.reference import ForexReference, NoRate
from services.forex.store import RATE_OVERRIDES, ForexRecord, RateOverrides

SOURCE = "forex"


def reference(ctx: Context) -> ForexReference:
    """The shipped rate tables with the administrator's rates laid over them (read in this
    unit, so every replica decides with the rates committed before it)."""
    held = ctx.record(RATE_OVERRIDES)
    shipped: ForexReference = ctx.reference
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


def _filing(
    command: ForexFiling,
    envelope: Envelope,
    held: Held | None,
    ctx: Context,
    *,
    kind: str,
    currency: str | None,
    decide: Callable[[ForexReference, Decimal, int], ForexMatched],
) -> Outcome:
    """What a receipt and a payment share: earlier tranches, the bank's refusal (nothing
    recorded: the trader may file again), the day's rates, the cumulative record.

    `decide(ref, earlier, tranche)` is the event of this filing, given what earlier tranches
    came to and its tranche number.
    """
    previous = _earlier(held, kind, via_api=command.via_api, declaration_id=envelope.declaration_id)
    ref = reference(ctx)
    refused = rules.refusal(
        fx_class=ref.fx_class(command.declarant_uscc),
        via_api=command.via_api,
        registration=command.registration_no,
        currency=currency or command.currency,
        declared_currency=command.currency,
    )
    if refused is not None:
        return Outcome(emit=[reply(envelope, refused, source=SOURCE)])
    try:
        event = decide(
            ref,
            previous.amount if previous else ZERO,
            previous.tranches + 1 if previous else 1,
        )
    except NoRate as exc:
        raise HandlerError("no_rate", str(exc)) from exc
    record = ForexRecord(
        kind=kind,
        entry_id=command.entry_id,
        amount=(previous.amount if previous else ZERO) + event.amount,
        currency=event.currency,
        rate=event.rate,
        amount_cny=(previous.amount_cny if previous else ZERO) + event.amount_cny,
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


def settle_receipt(
    command: SettleReceipt, envelope: Envelope, held: Held | None, ctx: Context
) -> Outcome:
    """Match the receipt to the declaration and settle it into CNY; a filed receipt may top up
    a partial one (a later tranche)."""

    def decide(ref: ForexReference, earlier: Decimal, tranche: int) -> ReceiptSettled:
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
        return rules.settle(
            command.amount,
            command.currency,
            ref,
            received=received,
            days_after_export=days,
            uscc=command.declarant_uscc,
            on=on,
            declaration_id=envelope.declaration_id,
            registration=command.registration_no,
            earlier=earlier,
            tranche=tranche,
        )

    return _filing(
        command,
        envelope,
        held,
        ctx,
        kind="receipt",
        currency=command.received_currency,
        decide=decide,
    )


def register_payment(
    command: RegisterPayment, envelope: Envelope, held: Held | None, ctx: Context
) -> Outcome:
    """Register the import payment abroad against the declaration; a filed payment may top up
    a short one (a later tranche)."""

    def decide(ref: ForexReference, earlier: Decimal, tranche: int) -> PaymentRegistered:
        return rules.register_payment(
            command.amount,
            command.currency,
            ref,
            paid=command.paid,
            uscc=command.declarant_uscc,
            on=command.paid_on or ctx.now.astimezone(BEIJING).date(),
            declaration_id=envelope.declaration_id,
            registration=command.registration_no,
            earlier=earlier,
            tranche=tranche,
        )

    return _filing(
        command, envelope, held, ctx, kind="payment", currency=command.paid_currency, decide=decide
    )


HANDLERS = by_command(SOURCE, {SettleReceipt: settle_receipt, RegisterPayment: register_payment})
