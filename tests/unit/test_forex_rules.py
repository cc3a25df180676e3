"""Foreign exchange: the day's rate, matching within the tolerance, classes A/B/C, settlement."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import NamedTuple

import pytest

from schemas.messages import ForexMatched
from schemas.samples import DEMO_USCC
from schemas.trade import Scenario
from services.forex.reference import NoRate
from services.forex.reference import load_reference as forex_reference
from services.forex.rules import (
    assess_receipt,
    match,
    receipt_days,
    refusal,
    register_payment,
    settle,
    short_receipt,
    simulated_receipt,
    to_cny,
)

REF = forex_reference()
D = Decimal
FRIDAY = date(2026, 11, 20)
CLASS_B = "91310000MA1FL0007C"
CLASS_C = "91330100MA2CBE00XU"


class Seen(NamedTuple):
    """What a settlement or a payment decided."""

    match: str
    fx_class: str
    amount: Decimal
    amount_cny: Decimal
    outstanding: Decimal = D(0)
    held: Decimal = D(0)
    codes: tuple[str, ...] = ()


def _seen(event: ForexMatched) -> Seen:
    return Seen(
        event.match,
        event.fx_class,
        event.amount,
        event.amount_cny,
        event.outstanding,
        event.held,
        tuple(f.code for f in event.findings),
    )


# The first check names the class's procedure.
CLASS_CHECK = {"A": "simplified documents", "B": "electronic data check", "C": "逐笔登记"}


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


@pytest.mark.parametrize(
    ("received", "uscc", "days", "expected"),
    [
        # Tolerance 1% of 12,000.00 = 120.00; 11,900.00 is 100.00 short → matched;
        # 11,900.00 × 7.0950 = 84,430.50.
        ("11900.00", DEMO_USCC, 30, Seen("matched", "A", D("11900.00"), D("84430.50"))),
        # 6,000.00 of 12,000.00: 6,000.00 × 7.0950 = 42,570.00; 6,000.00 outstanding.
        (
            "6000.00",
            DEMO_USCC,
            30,
            Seen("partial", "A", D("6000.00"), D("42570.00"), D("6000.00"), codes=("F201",)),
        ),
        # USD 9,000.00 × 7.0950 = CNY 63,855.00 settled; USD 3,000.00 outstanding.
        (
            "9000.00",
            DEMO_USCC,
            30,
            Seen("partial", "A", D("9000.00"), D("63855.00"), D("3000.00"), codes=("F201",)),
        ),
        # 13,000.00 received for 12,000.00. Class A: 13,000.00 × 7.0950 = 92,235.00.
        (
            "13000.00",
            DEMO_USCC,
            30,
            Seen("over", "A", D("13000.00"), D("92235.00"), codes=("F202",)),
        ),
        # Class B: the declared 12,000.00 → 85,140.00, 1,000.00 held for review.
        (
            "13000.00",
            CLASS_B,
            30,
            Seen("over", "B", D("12000.00"), D("85140.00"), held=D("1000.00"), codes=("F202",)),
        ),
        # In full 120 days after export: late, settled (F203); 90 days is still on time.
        (
            "12000.00",
            DEMO_USCC,
            120,
            Seen("late", "A", D("12000.00"), D("85140.00"), codes=("F203",)),
        ),
        ("12000.00", DEMO_USCC, 90, Seen("matched", "A", D("12000.00"), D("85140.00"))),
    ],
)
def test_a_receipt_is_matched_and_settled_at_the_days_rate(
    received: str, uscc: str, days: int, expected: Seen
) -> None:
    """USD 12,000.00 declared, the day's rate 7.0950. Each finding is named in the checks."""
    settled = _settle(received, uscc=uscc, days=days)
    assert _seen(settled) == expected
    assert CLASS_CHECK[expected.fx_class] in settled.checks[0]
    for code in expected.codes:
        assert any(c.startswith(f"{code} ") for c in settled.checks), code


def test_a_late_receipt_is_settled_with_a_trade_credit_report_due() -> None:
    settled = _settle("12000.00", days=120)
    assert any("贸易信贷报告" in c and c.startswith("F203") for c in settled.checks)


def test_a_receipt_settled_past_the_deadline_by_the_sandbox_clock_is_late() -> None:
    """Released on 12 August 2026; the simulated buyer's draw says day 30. Forex settles it on
    Friday 20 November 2026 (the sandbox clock moved 100 days on): Aug 12 → Sep 12 is 31 days,
    → Oct 12 30, → Nov 12 31, → Nov 20 8, so 100 days after export, > 90: late, F203."""
    released = date(2026, 8, 12)
    assert receipt_days(30, released_on=released, on=FRIDAY) == 100
    assert receipt_days(30, released_on=released, on=date(2026, 8, 20)) == 30  # 8 days: the draw
    assert receipt_days(30, released_on=None, on=FRIDAY) == 30  # release day unknown: the draw
    days = receipt_days(30, released_on=released, on=FRIDAY)
    settled = _settle("12000.00", days=days)
    assert (settled.match, settled.reason_code) == ("late", "F203")
    assert any(c.startswith("F203 received 100 days after export (> 90)") for c in settled.checks)


def test_class_c_registers_each_transaction_with_safe() -> None:
    settled = _settle("12000.00", uscc=CLASS_C)
    assert settled.registration_no is not None
    assert re.fullmatch(r"SAFE20261120\d{8}", settled.registration_no)
    assert "逐笔登记" in settled.checks[0]


@pytest.mark.parametrize(
    ("received", "expected"),
    [("100.00", "matched"), ("99.00", "matched"), ("98.99", "partial"), ("101.01", "over")],
)
def test_match_compares_with_a_share_of_the_declared_value(received: str, expected: str) -> None:
    assert match(D("100.00"), D(received), D("0.01")) == expected


# --- reason codes: partial, over, late; refusals ------------------------------------------------


@pytest.mark.parametrize(
    ("received", "days", "fx_class", "expected"),
    [
        # 9,000.00 of 12,000.00 (tolerance 120.00): settled 9,000.00, 3,000.00 outstanding.
        ("9000.00", 30, "A", ("partial", "9000.00", "3000.00", "0", ("F201",))),
        # 12,600.00: class A settles all; class C settles 12,000.00 and holds 600.00.
        ("12600.00", 30, "A", ("over", "12600.00", "0", "0", ("F202",))),
        ("12600.00", 30, "C", ("over", "12000.00", "0", "600.00", ("F202",))),
        # In full but 91 days after export: late, trade-credit report due.
        ("12000.00", 91, "B", ("late", "12000.00", "0", "0", ("F203",))),
        # Short and late: both findings, still partial.
        ("6000.00", 100, "A", ("partial", "6000.00", "6000.00", "0", ("F201", "F203"))),
        # 11,880.00 is 120.00 short = exactly the tolerance: matched, no finding.
        ("11880.00", 90, "A", ("matched", "11880.00", "0", "0", ())),
    ],
)
def test_each_receipt_outcome_carries_its_reason_code(
    received: str, days: int, fx_class: str, expected: tuple[object, ...]
) -> None:
    seen = assess_receipt(
        D("12000.00"), D(received), fx_class=fx_class, days_after_export=days, ref=REF
    )
    match_, settled, outstanding, held, codes = expected
    assert (seen.match, seen.settled, seen.outstanding, seen.held) == (
        match_,
        D(settled),  # type: ignore[arg-type]
        D(outstanding),  # type: ignore[arg-type]
        D(held),  # type: ignore[arg-type]
    )
    assert tuple(f.code for f in seen.findings) == codes
    for finding in seen.findings:
        assert finding.field and finding.rule and finding.reason and finding.reason_zh


@pytest.mark.parametrize(
    ("received", "total", "expected"),
    [
        # 12,000.00 declared, 9,000.00 settled before. Tranche 2 of 2,500.00: total 11,500.00,
        # still 500.00 short (beyond 120.00): partial, settles 2,500.00 × 7.0950 = 17,737.50.
        (
            "2500.00",
            "11500.00",
            Seen("partial", "A", D("2500.00"), D("17737.50"), D("500.00"), codes=("F201",)),
        ),
        # Tranche 2 of 3,000.00: total 12,000.00 matched, settles 3,000.00 → 21,285.00.
        ("3000.00", "12000.00", Seen("matched", "A", D("3000.00"), D("21285.00"))),
    ],
)
def test_a_later_tranche_is_matched_on_the_total_and_settles_its_part(
    received: str, total: str, expected: Seen
) -> None:
    settled = settle(
        D("12000.00"),
        "USD",
        REF,
        received=D(received),
        on=FRIDAY,
        earlier=D("9000.00"),
        tranche=2,
    )
    assert _seen(settled) == expected
    assert (settled.tranche, settled.received_total) == (2, D(total))


@pytest.mark.parametrize(
    ("paid", "uscc", "earlier", "tranche", "expected"),
    [
        # EUR 500.00 × 7.6880 = CNY 3,844.00.
        (None, None, "0", 1, Seen("matched", "A", D("500.00"), D("3844.00"))),
        # EUR 400.00 paid for 500.00: 400.00 × 7.6880 = 3,075.20, 100.00 still payable (F201).
        (
            "400.00",
            None,
            "0",
            1,
            Seen("partial", "A", D("400.00"), D("3075.20"), D(100), codes=("F201",)),
        ),
        # EUR 550.00 in class B: 500.00 paid out (3,844.00), 50.00 held (F202).
        (
            "550.00",
            CLASS_B,
            "0",
            1,
            Seen("over", "B", D("500.00"), D("3844.00"), held=D("50.00"), codes=("F202",)),
        ),
        # 400.00 paid before; tranche 2 of 150.00: total 550.00, class B pays out up to 500.00
        # (100.00 now, × 7.6880 = 768.80) and holds 50.00 (F202).
        (
            "150.00",
            CLASS_B,
            "400.00",
            2,
            Seen("over", "B", D("100.00"), D("768.80"), held=D("50.00"), codes=("F202",)),
        ),
    ],
)
def test_an_import_payment_is_registered_in_cny(
    paid: str | None, uscc: str | None, earlier: str, tranche: int, expected: Seen
) -> None:
    """EUR 500.00 declared, the day's rate 7.6880. No late rule for imports."""
    registered = register_payment(
        D("500.00"),
        "EUR",
        REF,
        paid=None if paid is None else D(paid),
        uscc=uscc,
        on=FRIDAY,
        earlier=D(earlier),
        tranche=tranche,
    )
    assert _seen(registered) == expected


def test_short_receipt_cuts_to_the_fen() -> None:
    """80% of 1,234.567 = 987.6536 → 987.65 (cut, the buyer does not pay a part-fen)."""
    assert short_receipt(D("1234.567"), D("0.80")) == D("987.65")


@pytest.mark.parametrize(
    ("fx_class", "via_api", "registration", "currency", "code"),
    [
        ("C", True, None, "USD", "F101"),
        ("C", True, "SAFE-123", "USD", "F102"),
        ("C", True, "SAFE2026112012345678", "USD", None),
        ("C", False, None, "USD", None),  # the simulated enterprise registers itself
        ("A", True, None, "USD", None),  # class A: no registration
        ("B", True, None, "EUR", "F103"),  # received in another currency
    ],
)
def test_the_bank_refuses_what_the_class_or_currency_forbids(
    fx_class: str, via_api: bool, registration: str | None, currency: str, code: str | None
) -> None:
    refused = refusal(
        fx_class=fx_class,
        via_api=via_api,
        registration=registration,
        currency=currency,
        declared_currency="USD",
    )
    assert (refused.reason_code if refused else None) == code
    if refused:
        assert refused.field in ("registration_no", "currency") and refused.reason_zh


def test_class_c_keeps_the_registration_it_quoted() -> None:
    settled = settle(
        D("100.00"),
        "USD",
        REF,
        uscc=CLASS_C,
        on=FRIDAY,
        registration="SAFE2026112012345678",
    )
    assert settled.registration_no == "SAFE2026112012345678"


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
