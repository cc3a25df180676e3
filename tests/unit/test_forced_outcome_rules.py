"""The agencies' forced-outcome branches, with worked examples: the yellow channel, a short
payment and its reason code, a stalled agency that answers nothing."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal

from schemas.envelope import new_envelope
from schemas.messages import (
    ApplyRefund,
    DeclarationAccepted,
    FileDeclaration,
    InspectGoods,
    SettleReceipt,
    ValueLine,
)
from schemas.trade import Direction, Scenario, TradeMode
from services.common.handling import Context
from services.customs import handlers as customs_handlers
from services.customs.reference import load_reference as customs_reference
from services.customs.rules import review
from services.forex import handlers as forex_handlers
from services.forex.reference import load_reference as forex_reference
from services.forex.rules import receipt_reason, settle, simulated_receipt
from services.inspection import handlers as inspection_handlers
from services.inspection.reference import InspectionReference
from services.inspection.reference import load_reference as inspection_reference
from services.tax import handlers as tax_handlers
from services.tax.reference import TaxReference
from services.tax.reference import load_reference as tax_reference
from tests.unit.builders import FixedDraw, declaration, item

D = Decimal
CUSTOMS = customs_reference()
FOREX = forex_reference()
WHEN = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
FRIDAY = date(2026, 11, 20)  # USD table of the day: 7.0950
PHONES = declaration(item("8517130000", "100", "120.00"))  # USD 12,000.00


def _review(scenario: Scenario, draw: float) -> DeclarationAccepted:
    decl = PHONES.model_copy(update={"scenario": scenario})
    decision = review(decl, declaration_id="d-1", ref=CUSTOMS, rng=FixedDraw(draw), when=WHEN)
    assert isinstance(decision, DeclarationAccepted), decision
    return decision


# --- customs -----------------------------------------------------------------------------------


def test_yellow_channel_reviews_the_documents_and_inspects_nothing() -> None:
    # A draw of 0.0 would be red and sampled at random; the scenario overrides both.
    accepted = _review(Scenario.YELLOW_CHANNEL, 0.0)
    assert accepted.channel == "yellow" and not accepted.inspection_required
    # minutes: accepted at 1; review +30 → 31; audit +2 → 33 (simulated_minutes)
    trail = [(r.status, r.minutes) for r in accepted.receipts]
    assert trail == [("2", D(0)), ("120", D(1)), ("300", D(31)), ("399", D(33))]
    assert accepted.status_code == "399"
    assert "yellow" in accepted.receipts[2].info and "300" in accepted.receipts[2].info


def test_a_stalled_inspection_needs_goods_to_inspect_so_customs_picks_red() -> None:
    accepted = _review(Scenario.STALL_INSPECTION, 0.99)  # 0.99 would be green
    assert accepted.channel == "red" and accepted.inspection_required
    assert accepted.receipts[-1].status == "500"


def test_other_stalls_reach_customs_as_happy_and_clear_green() -> None:
    # The gateway tells customs `happy` for a tax stall (scenario_for): green, unsampled.
    accepted = _review(Scenario.HAPPY, 0.0)
    assert accepted.channel == "green" and not accepted.inspection_required


# --- forex -------------------------------------------------------------------------------------


def test_short_payment_pays_eighty_percent_on_day_thirty() -> None:
    # 12000.00 × 0.80 = 9600.00, whatever the buyer's draw
    paid = simulated_receipt(
        D("12000.00"), scenario=Scenario.SHORT_PAYMENT, ref=FOREX, rng=random.Random(1)
    )
    assert paid == (D("9600.00"), 30)


def test_a_given_share_wins_and_rounds_half_up_to_the_fen() -> None:
    # 12345.67 × 0.33 = 4074.0711 → 4074.07; 10.05 × 0.5 = 5.025 → 5.03 (half up)
    assert simulated_receipt(
        D("12345.67"), scenario=None, ref=FOREX, rng=random.Random(1), share=D("0.33")
    ) == (D("4074.07"), 30)
    assert simulated_receipt(
        D("10.05"), scenario=Scenario.HAPPY, ref=FOREX, rng=random.Random(1), share=D("0.5")
    ) == (D("5.03"), 30)


def test_a_short_receipt_settles_what_arrived_and_reports_f201() -> None:
    settled = settle(D("12000.00"), "USD", FOREX, received=D("9600.00"), on=FRIDAY)
    # 9600.00 × 7.0950 = 68112.00 CNY; 12000.00 − 9600.00 = 2400.00 outstanding
    assert settled.amount == D("9600.00") and settled.amount_cny == D("68112.00")
    assert settled.outstanding == D("2400.00") and settled.match == "partial"
    assert settled.reason_code == "F201"
    assert any(c.startswith("F201 ") and c.endswith("2400.00 outstanding") for c in settled.checks)


def test_receipt_reason_codes() -> None:
    assert receipt_reason("partial", D(0), late=False) == "F201"
    assert receipt_reason("over", D("600.00"), late=False) == "F202"  # class B/C hold the excess
    assert receipt_reason("over", D(0), late=False) is None  # class A settles it all
    assert receipt_reason("late", D(0), late=True) == "F203"
    assert receipt_reason("matched", D(0), late=False) is None
    # in full, within the tolerance of 1%: 11900.00 is 100.00 short of 12000.00, ≤ 120.00
    assert (
        settle(D("12000.00"), "USD", FOREX, received=D("11900.00"), on=FRIDAY).reason_code is None
    )


# --- stalls: the agency deliberately answers nothing --------------------------------------------


def _ctx(service: str, reference: object) -> Context:
    return Context(service, 20261122, WHEN, reference)


LINES = (ValueLine(hs_code="8517130000", value_cny=D("85200.00")),)


def _inspect(scenario: Scenario) -> InspectGoods:
    return InspectGoods(
        direction=Direction.EXPORT,
        trade_mode=TradeMode.GENERAL,
        hs_codes=("8517130000",),
        reason="red channel",
        scenario=scenario,
        lines=LINES,
    )


def test_each_stalled_agency_answers_nothing_and_writes_nothing() -> None:
    inspect = _inspect(Scenario.STALL_INSPECTION)
    settle_cmd = SettleReceipt(
        entry_id="e", amount=D("12000"), currency="USD", scenario=Scenario.STALL_FOREX
    )
    refund = ApplyRefund(entry_id="e", lines=LINES, scenario=Scenario.STALL_TAX)
    filing = FileDeclaration(declaration=PHONES.model_copy(update={"scenario": "stall_customs"}))
    cases = [
        (customs_handlers.HANDLERS, filing, _ctx("customs", CUSTOMS)),
        (inspection_handlers.HANDLERS, inspect, _ctx("inspection", _inspection_ref())),
        (forex_handlers.HANDLERS, settle_cmd, _ctx("forex", FOREX)),
        (tax_handlers.HANDLERS, refund, _ctx("tax", _tax_ref())),
    ]
    for handlers, command, ctx in cases:
        envelope = new_envelope(command, declaration_id="d-1", source="gateway")
        outcome = handlers[command.TYPE](envelope, None, ctx)
        assert outcome.put is None and outcome.emit == [], command.TYPE


def test_the_same_command_told_happy_is_answered() -> None:
    inspect = _inspect(Scenario.HAPPY)
    envelope = new_envelope(inspect, declaration_id="d-1", source="gateway")
    handle = inspection_handlers.HANDLERS[inspect.TYPE]
    outcome = handle(envelope, None, _ctx("inspection", _inspection_ref()))
    assert [e.type for e in outcome.emit] == ["inspection.goods.passed"]


def _inspection_ref() -> InspectionReference:
    return inspection_reference()


def _tax_ref() -> TaxReference:
    return tax_reference()
