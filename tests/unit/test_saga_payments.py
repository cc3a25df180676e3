"""Receipts and payments the trader files through the API: the by-trader tables and commands."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from gateway import saga as sagas
from gateway.core.errors import GatewayError, Invalid, NotApplicable
from gateway.saga import (
    EXPORT,
    EXPORT_9610,
    IMPORT,
    REFUSED,
    Saga,
    advance,
    awaits_forex,
    by_trader,
    start,
    table_for,
)
from gateway.saga.trader import forex_command
from schemas.api import PaymentRequest
from schemas.base import Event
from schemas.envelope import new_envelope
from schemas.messages import (
    DeclarationAccepted,
    Explained,
    GoodsReleased,
    ImportTaxesCollected,
    PaymentRegistered,
    ReceiptSettled,
    RegisterPayment,
    SettleReceipt,
    TransactionRefused,
    ValueLine,
)
from schemas.trade import DeclarationData, Direction, PaymentSource, TradeMode
from tests.unit.builders import declaration, item

D = Decimal
ENTRY = "531620260000000001"
LINES = (ValueLine(hs_code="8517130000", value_cny=D("85200.00"), refund_rate=D("0.13")),)
# 100 phones × USD 120.00 = USD 12,000.00, receipts filed by the trader.
# USD 9,000.00 of 12,000.00 × 7.0950 = CNY 63,855.00, 3,000.00 outstanding.
PARTIAL = ReceiptSettled(
    amount=D("9000.00"),
    currency="USD",
    rate=D("7.0950"),
    amount_cny=D("63855.00"),
    outstanding=D("3000.00"),
    match="partial",
)
BY_API = declaration(item("8517130000", "100", "120.00"), payments=PaymentSource.API)


def _feed(saga: Saga, event: Event, at: datetime | None = None) -> Saga:
    envelope = new_envelope(event, declaration_id="d-1", source="test")
    if at is not None:
        envelope = envelope.model_copy(update={"occurred_at": at})
    return advance(saga, envelope).saga


def _released(decl: DeclarationData) -> Saga:
    """Accepted green, then released at 2026-11-20 17:00 UTC = 2026-11-21 01:00 in Beijing."""
    saga = start("d-1", "ent-1", decl).saga
    saga = _feed(
        saga,
        DeclarationAccepted(
            entry_id=ENTRY,
            channel="green",
            inspection_required=False,
            fx_rate=D("7.1"),
            lines=LINES,
            total_value_cny=D("85200.00"),
        ),
    )
    if decl.direction is Direction.IMPORT:
        x = Explained(amount=D(0), base=D(0), rate=D(0), formula="x")
        saga = _feed(saga, ImportTaxesCollected(duty=x, consumption_tax=x, vat=x, total=D(0)))
    return _feed(saga, GoodsReleased(entry_id=ENTRY), at=datetime(2026, 11, 20, 17, tzinfo=UTC))


@pytest.mark.parametrize("table", [EXPORT, EXPORT_9610, IMPORT])
def test_the_trader_table_sends_no_forex_command_and_hears_refusals_where_it_waits(
    table: tuple[sagas.Transition, ...],
) -> None:
    trader = by_trader(table)
    assert not any(c in sagas.FOREX_COMMANDS for r in trader for c in r.commands)
    waiting = {r.state for r in table if r.on in (sagas.SETTLED, sagas.REGISTERED)}
    assert {r.state for r in trader if r.on == REFUSED} == waiting
    assert all(r.to == r.state for r in trader if r.on == REFUSED)


def test_table_for_picks_the_trader_table_only_when_asked() -> None:
    assert table_for(BY_API) == by_trader(EXPORT)
    assert table_for(BY_API.model_copy(update={"payments": PaymentSource.SIMULATED})) is EXPORT


def test_release_waits_for_the_trader_and_records_the_beijing_day() -> None:
    saga = _released(BY_API)
    assert (saga.state, saga.steps["forex"], saga.released_on) == (
        "closing_and_settling",
        "awaiting_trader",
        "2026-11-21",
    )
    assert awaits_forex(saga)
    assert not awaits_forex(_released(BY_API.model_copy(update={"payments": "simulated"})))


def test_the_filing_becomes_a_settle_command_with_the_days_since_release() -> None:
    """Released 2026-11-21 (Beijing), received 2027-03-01: Nov 21→Dec 21 = 30 days, →Jan 21 = 31,
    →Feb 21 = 31, →Mar 1 = 8 (February 2027 has 28 days): 100 days, so late (> 90)."""
    saga = _released(BY_API)
    body = PaymentRequest(amount=D("9000.00"), currency="USD", received_on=date(2027, 3, 1))
    command, days = forex_command(saga, body, date(2027, 3, 1))
    assert isinstance(command, SettleReceipt) and days == 100
    assert (command.amount, command.received, command.days_after_export, command.via_api) == (
        D("12000.00"),
        D("9000.00"),
        100,
        True,
    )


def test_an_import_filing_becomes_a_register_payment_command() -> None:
    decl = declaration(
        item("8517130000", "10", "100"), direction=Direction.IMPORT, payments=PaymentSource.API
    )
    saga = _released(decl)
    assert saga.state == "closing_and_paying"
    command, days = forex_command(
        saga, PaymentRequest(amount=D("1000"), currency="USD"), date(2026, 11, 21)
    )
    assert isinstance(command, RegisterPayment) and (command.paid, days) == (D("1000"), 0)


@pytest.mark.parametrize(
    ("decl", "on", "refusal"),
    [
        (
            BY_API.model_copy(update={"payments": PaymentSource.SIMULATED}),
            date(2026, 11, 21),
            NotApplicable,
        ),
        (BY_API, date(2026, 11, 20), Invalid),  # before the release day
    ],
)
def test_a_filing_that_does_not_apply_is_refused_with_a_domain_error(
    decl: DeclarationData, on: date, refusal: type[GatewayError]
) -> None:
    with pytest.raises(refusal):
        forex_command(_released(decl), PaymentRequest(amount=D("1"), currency="USD"), on)


def test_a_filing_before_release_or_while_one_is_pending_is_refused() -> None:
    before = start("d-1", "ent-1", BY_API).saga
    with pytest.raises(NotApplicable, match="no receipt or payment is awaited"):
        forex_command(before, PaymentRequest(amount=D("1"), currency="USD"), date(2026, 11, 21))


def test_a_refusal_keeps_the_saga_waiting_with_the_reason_then_a_receipt_moves_it() -> None:
    saga = _released(BY_API)
    refused = _feed(
        saga,
        TransactionRefused(
            reason_code="F101",
            field="registration_no",
            rule="forex.class_c.registration",
            reason="register first",
            reason_zh="须事前登记",
            fx_class="C",
        ),
    )
    assert (refused.state, refused.steps["forex"]) == ("closing_and_settling", "refused")
    assert refused.reason is not None and refused.reason.startswith("F101 registration_no")
    assert awaits_forex(refused)
    settled = _feed(refused, PARTIAL)
    assert (settled.state, settled.figures.forex_outstanding) == ("closing", D("3000.00"))


def test_a_registered_import_payment_moves_the_trader_table() -> None:
    decl = declaration(
        item("8517130000", "10", "100"),
        direction=Direction.IMPORT,
        trade_mode=TradeMode.GENERAL,
        payments=PaymentSource.API,
    )
    saga = _released(decl)
    paid = _feed(
        saga,
        PaymentRegistered(amount=D("1000"), currency="USD", rate=D("7.095"), amount_cny=D("7095")),
    )
    assert (paid.state, paid.steps["forex"]) == ("closing", "registered")


def test_a_later_tranche_tops_up_a_partial_receipt_in_any_state_after_it() -> None:
    """9,000.00 of 12,000.00 settled (CNY 63,855.00), 3,000.00 outstanding: the trader may file
    again, even once the declaration completed; tranche 2 adds CNY 21,285.00 = 85,140.00."""
    saga = _feed(_released(BY_API), PARTIAL)
    assert saga.state == "closing" and awaits_forex(saga)
    done = saga.model_copy(update={"state": "completed"})
    assert awaits_forex(done)
    topped = _feed(
        done,
        ReceiptSettled(
            tranche=2,
            amount=D("3000.00"),
            currency="USD",
            rate=D("7.0950"),
            amount_cny=D("21285.00"),
            outstanding=D(0),
        ),
    )
    assert (topped.state, topped.figures.settled_amount_cny, topped.figures.forex_outstanding) == (
        "completed",
        D("85140.00"),
        D(0),
    )
    assert not awaits_forex(topped)  # nothing outstanding: a third filing is a 409


def test_tranche_rows_cover_every_state_after_the_first_answer() -> None:
    trader = by_trader(EXPORT_9610)
    tranche_states = {r.state for r in trader if r.on == sagas.SETTLED and r.to == r.state}
    assert tranche_states == {"closing", "summarising", "refunding", "completed"}
