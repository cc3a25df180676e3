"""Foreign-exchange decisions: settlement and payment registration into CNY."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.forex.rules import ForexReference, NoRate, register_payment, settle, to_cny
from tests.unit.builders import shipped

REF = ForexReference.from_json(shipped("forex"))
SMALL = ForexReference(rates={"USD": Decimal("7.2000")})


def test_shipped_reference_loads_bank_rates_as_decimals() -> None:
    assert REF.rate("USD") == Decimal("7.0950")
    assert REF.rate("JPY") == Decimal("0.04790")
    assert REF.rate("CNY") == Decimal("1")


def test_export_receipt_in_usd_is_settled_at_the_bank_rate() -> None:
    """USD 12,000.00 × 7.0950 = CNY 85,140.00."""
    settled = settle(Decimal("12000.00"), "USD", REF)
    assert settled.amount_cny == Decimal("85140.00")
    assert (settled.amount, settled.currency, settled.rate) == (
        Decimal("12000.00"),
        "USD",
        Decimal("7.0950"),
    )


def test_eur_receipt_is_rounded_to_the_fen() -> None:
    """EUR 1,234.56 × 7.6880 = 8,641.92 + 849.37728 = 9,491.29728 → CNY 9,491.30."""
    assert settle(Decimal("1234.56"), "EUR", REF).amount_cny == Decimal("9491.30")


def test_jpy_payment_is_registered_in_cny() -> None:
    """JPY 1,000,000 × 0.04790 = CNY 47,900.00."""
    registered = register_payment(Decimal("1000000"), "JPY", REF)
    assert registered.amount_cny == Decimal("47900.00")
    assert registered.rate == Decimal("0.04790")


def test_aud_payment_is_registered_in_cny() -> None:
    """AUD 250.00 × 4.6920 = CNY 1,173.00."""
    assert register_payment(Decimal("250.00"), "AUD", REF).amount_cny == Decimal("1173.00")


def test_hkd_small_amount_rounds_down_below_the_half() -> None:
    """HKD 1.50 × 0.9085 = 1.36275 → CNY 1.36."""
    assert settle(Decimal("1.50"), "HKD", REF).amount_cny == Decimal("1.36")


def test_conversion_rounds_half_up_to_the_fen() -> None:
    """GBP 1.00 × 8.9850 = 8.985 → 8.99 half up (banker's rounding would give 8.98)."""
    assert settle(Decimal("1.00"), "GBP", REF).amount_cny == Decimal("8.99")


@pytest.mark.parametrize(
    ("amount", "rate", "expected"),
    [
        ("0.125", "1", "0.13"),  # exactly half a fen: up
        ("0.145", "1", "0.15"),  # half-even would give 0.14
        ("0.1249", "1", "0.12"),
        ("100", "7.09505", "709.51"),  # 709.505 → 709.51
        ("-0.125", "1", "-0.13"),  # half up means away from zero for Decimal
        ("0", "7.0950", "0.00"),
    ],
)
def test_to_cny_rounds_half_up_to_the_fen(amount: str, rate: str, expected: str) -> None:
    result = to_cny(Decimal(amount), Decimal(rate))
    assert result == Decimal(expected)
    assert result.as_tuple().exponent == -2


def test_cny_settles_at_par() -> None:
    """CNY 5,000.00 × 1 = 5,000.00."""
    assert settle(Decimal("5000"), "CNY", REF).amount_cny == Decimal("5000.00")


def test_hand_built_reference_settles_at_its_own_rate() -> None:
    """USD 100.00 × 7.2000 = CNY 720.00."""
    assert settle(Decimal("100.00"), "USD", SMALL).amount_cny == Decimal("720.00")


def test_currency_without_a_rate_raises_no_rate_naming_it() -> None:
    with pytest.raises(NoRate, match="EUR"):
        settle(Decimal("1"), "EUR", SMALL)
    with pytest.raises(NoRate, match="GBP"):
        register_payment(Decimal("1"), "GBP", SMALL)
    with pytest.raises(NoRate):
        REF.rate("XXX")


def test_no_rate_is_a_value_error() -> None:
    assert issubclass(NoRate, ValueError)
