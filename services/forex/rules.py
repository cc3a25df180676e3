"""Foreign-exchange decisions as pure functions: settlement and payment registration into CNY."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from schemas.messages import PaymentRegistered, ReceiptSettled

FEN = Decimal("0.01")


class NoRate(ValueError):
    """No rate for the currency on the table."""


@dataclass(frozen=True)
class ForexReference:
    """The bank's rates, CNY per unit of foreign currency."""

    rates: dict[str, Decimal]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ForexReference:
        """Build from the shipped JSON document."""
        return cls(rates={k: Decimal(v) for k, v in raw["rates_cny"].items()})

    def rate(self, currency: str) -> Decimal:
        """The rate of a currency, or NoRate."""
        if currency not in self.rates:
            raise NoRate(f"no settlement rate for {currency}")
        return self.rates[currency]


def to_cny(amount: Decimal, rate: Decimal) -> Decimal:
    """Foreign amount × rate, rounded to the fen half up."""
    return (amount * rate).quantize(FEN, rounding=ROUND_HALF_UP)


def settle(amount: Decimal, currency: str, ref: ForexReference) -> ReceiptSettled:
    """Settle an export receipt (结汇) into CNY at the bank's rate."""
    rate = ref.rate(currency)
    return ReceiptSettled(
        amount=amount, currency=currency, rate=rate, amount_cny=to_cny(amount, rate)
    )


def register_payment(amount: Decimal, currency: str, ref: ForexReference) -> PaymentRegistered:
    """Register an import payment abroad, valued in CNY at the bank's rate."""
    rate = ref.rate(currency)
    return PaymentRegistered(
        amount=amount, currency=currency, rate=rate, amount_cny=to_cny(amount, rate)
    )
