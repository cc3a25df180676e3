"""Forex (外汇): settle export receipts and register import payments, once each."""

from __future__ import annotations

from schemas.envelope import Envelope, reply
from schemas.messages import RegisterPayment, SettleReceipt
from services.common.changes import Held, Put
from services.common.handling import Context, Handler, HandlerError, Outcome
from services.forex import rules
from services.forex.store import ForexRecord

SOURCE = "forex"


def settle_receipt(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
    """Match the receipt to the declaration and settle it into CNY."""
    command = envelope.payload
    assert isinstance(command, SettleReceipt)
    if held is not None:
        raise HandlerError(
            "already_settled", f"declaration {envelope.declaration_id} was settled before"
        )
    try:
        event = rules.settle(command.amount, command.currency, ctx.reference)
    except rules.NoRate as exc:
        raise HandlerError("no_rate", str(exc)) from exc
    record = ForexRecord(
        kind="receipt",
        entry_id=command.entry_id,
        amount=event.amount,
        currency=event.currency,
        rate=event.rate,
        amount_cny=event.amount_cny,
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
    try:
        event = rules.register_payment(command.amount, command.currency, ctx.reference)
    except rules.NoRate as exc:
        raise HandlerError("no_rate", str(exc)) from exc
    record = ForexRecord(
        kind="payment",
        entry_id=command.entry_id,
        amount=event.amount,
        currency=event.currency,
        rate=event.rate,
        amount_cny=event.amount_cny,
    )
    put = Put.of(envelope.declaration_id, record, status="registered", previous=None)
    return Outcome(put=put, emit=[reply(envelope, event, source=SOURCE)])


HANDLERS: dict[str, Handler] = {
    SettleReceipt.TYPE: settle_receipt,
    RegisterPayment.TYPE: register_payment,
}
