"""Foreign exchange: the day's rate, matching within the tolerance, classes A/B/C, settlement."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from schemas.trade import Scenario
from services.forex.rules import (
    ForexReference,
    NoRate,
    match,
    register_payment,
    settle,
    simulated_receipt,
    to_cny,
)
from tests.unit.builders import DEMO_USCC, shipped

REF = ForexReference.from_json(shipped("forex"))
D = Decimal
FRIDAY = date(2026, 11, 20)
CLASS_B = "91310000MA1FL0007C"
CLASS_C = "91330100MA2CBE00XU"


def _settle(received: str, *, uscc: str = DEMO_USCC, days: int = 30, declared: str = "12000.00"):  # type: ignore[no-untyped-def]
    return settle(
        D(declared),
        "USD",
        REF,
        received=D(received),
        days_after_export=days,
        uscc=uscc,
        on=FRIDAY,
        declaration_id="d-1",
    )


# --- the daily table ---------------------------------------------------------------------------


def test_the_rate_is_that_of_the_latest_table_on_or_before_the_day() -> None:
    assert REF.rate("USD", FRIDAY) == (D("7.0950"), FRIDAY)
    assert REF.rate("USD", date(2026, 11, 18)) == (D("7.0915"), date(2026, 11, 18))
    # Sunday: Friday's table; before the first table: the earliest one.
    assert REF.rate("USD", date(2026, 11, 22)) == (D("7.0950"), FRIDAY)
    assert REF.rate("USD", date(2020, 1, 1))[1] == date(2026, 11, 16)
    with pytest.raises(NoRate, match="XXX"):
        REF.rate("XXX", FRIDAY)


# --- matching and settlement -------------------------------------------------------------------


@pytest.mark.parametrize(("uscc", "fx_class"), [(DEMO_USCC, "A"), (CLASS_B, "B"), (CLASS_C, "C")])
def test_a_receipt_in_full_is_settled_at_the_days_rate_in_every_class(
    uscc: str, fx_class: str
) -> None:
    """USD 12,000.00 × 7.0950 = CNY 85,140.00."""
    settled = _settle("12000.00", uscc=uscc)
    assert (settled.match, settled.fx_class, settled.amount_cny) == (
        "matched",
        fx_class,
        D("85140.00"),
    )
    assert settled.settlement is not None and settled.settlement.rate == D("7.0950")
    assert settled.rate_date == "2026-11-20"
    assert (settled.registration_no is not None) is (fx_class == "C")


def test_a_shortfall_within_the_tolerance_still_matches() -> None:
    """Tolerance 1% of 12,000.00 = 120.00; 11,900.00 is 100.00 short → matched;
    11,900.00 × 7.0950 = 84,430.50."""
    settled = _settle("11900.00")
    assert (settled.match, settled.amount_cny, settled.outstanding) == (
        "matched",
        D("84430.50"),
        D("0"),
    )


def test_a_partial_receipt_is_settled_and_the_rest_stays_outstanding() -> None:
    """6,000.00 of 12,000.00: 6,000.00 × 7.0950 = 42,570.00; 6,000.00 outstanding."""
    settled = _settle("6000.00")
    assert (settled.match, settled.amount_cny, settled.outstanding) == (
        "partial",
        D("42570.00"),
        D("6000.00"),
    )


def test_an_over_payment_is_settled_in_class_a_and_held_in_class_b() -> None:
    """13,000.00 received for 12,000.00. Class A: 13,000.00 × 7.0950 = 92,235.00.
    Class B: the declared 12,000.00 → 85,140.00, 1,000.00 held for review."""
    a = _settle("13000.00")
    assert (a.match, a.amount_cny, a.held) == ("over", D("92235.00"), D("0"))
    b = _settle("13000.00", uscc=CLASS_B)
    assert (b.match, b.amount, b.amount_cny, b.held) == (
        "over",
        D("12000.00"),
        D("85140.00"),
        D("1000.00"),
    )
    assert "electronic data check" in b.checks[0]


def test_a_late_receipt_is_settled_with_a_trade_credit_report_due() -> None:
    settled = _settle("12000.00", days=120)
    assert settled.match == "late"
    assert any("trade-credit report" in c for c in settled.checks)
    assert _settle("12000.00", days=90).match == "matched"


def test_class_c_registers_each_transaction_with_safe() -> None:
    settled = _settle("12000.00", uscc=CLASS_C)
    assert settled.registration_no is not None
    assert re.fullmatch(r"SAFE20261120\d{8}", settled.registration_no)
    assert "逐笔登记" in settled.checks[0]


def test_import_payment_is_registered_in_cny() -> None:
    """EUR 500.00 × 7.6880 = CNY 3,844.00."""
    registered = register_payment(D("500.00"), "EUR", REF, on=FRIDAY)
    assert (registered.amount_cny, registered.match, registered.fx_class) == (
        D("3844.00"),
        "matched",
        "A",
    )


@pytest.mark.parametrize(
    ("received", "expected"),
    [("100.00", "matched"), ("99.00", "matched"), ("98.99", "partial"), ("101.01", "over")],
)
def test_match_compares_with_a_share_of_the_declared_value(received: str, expected: str) -> None:
    assert match(D("100.00"), D(received), D("0.01")) == expected


# --- the simulated buyer -----------------------------------------------------------------------


def test_the_happy_scenario_pays_in_full_on_time() -> None:
    assert simulated_receipt(
        D("12000"), scenario=Scenario.HAPPY, ref=REF, rng=random.Random(1)
    ) == (
        D("12000"),
        30,
    )


def test_the_simulated_buyer_mostly_pays_in_full() -> None:
    """Odds: partial 4%, over 2%, late 4%: of 5,000 seeds about 4,500 are matched."""
    outcomes: Counter[str] = Counter()
    for seed in range(5000):
        received, days = simulated_receipt(
            D("1000.00"), scenario=None, ref=REF, rng=random.Random(seed)
        )
        outcomes[match(D("1000.00"), received, REF.tolerance) if days <= 90 else "late"] += 1
    assert 4350 <= outcomes["matched"] <= 4650
    assert 130 <= outcomes["partial"] <= 270
    assert 50 <= outcomes["over"] <= 150


@pytest.mark.parametrize(
    ("amount", "rate", "expected"),
    [("0.125", "1", "0.13"), ("0.145", "1", "0.15"), ("100", "7.09505", "709.51")],
)
def test_to_cny_rounds_half_up_to_the_fen(amount: str, rate: str, expected: str) -> None:
    assert to_cny(D(amount), D(rate)) == D(expected)
