"""Foreign-exchange decisions as pure functions: the day's rate, receipts and payments matched
to the declared value, class A/B/C checks, settlement into CNY (domain.md §4)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from schemas.messages import Explained, PaymentRegistered, ReceiptSettled
from schemas.scenarios import DEFAULT_SHARE
from schemas.trade import Scenario

FEN = Decimal("0.01")
ZERO = Decimal(0)


class NoRate(ValueError):
    """No rate for the currency on the table."""


@dataclass(frozen=True)
class Behaviour:
    """How the simulated buyer pays: odds of a partial, over- or late payment."""

    partial: Decimal
    over: Decimal
    late: Decimal

    @classmethod
    def from_json(cls, raw: Mapping[str, str]) -> Behaviour:
        """Build from the `simulated_buyer` object."""
        return cls(Decimal(raw["partial"]), Decimal(raw["over"]), Decimal(raw["late"]))


@dataclass(frozen=True)
class ForexReference:
    """The bank's daily rates (CNY per unit), matching parameters and the SAFE classes."""

    daily_rates: dict[date, dict[str, Decimal]]
    tolerance: Decimal = Decimal("0.01")
    late_days: int = 90
    classes: dict[str, str] | None = None
    buyer: Behaviour = Behaviour(ZERO, ZERO, ZERO)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ForexReference:
        """Build from the shipped JSON document."""
        return cls(
            daily_rates={
                date.fromisoformat(day): {k: Decimal(v) for k, v in table.items()}
                for day, table in raw["daily_rates_cny"].items()
            },
            tolerance=Decimal(raw["match_tolerance"]),
            late_days=int(raw["late_after_days"]),
            classes=dict(raw.get("enterprise_classes", {})),
            buyer=Behaviour.from_json(raw["simulated_buyer"]),
        )

    def rate(self, currency: str, on: date) -> tuple[Decimal, date]:
        """The rate of a currency on a day: the latest table on or before it, or NoRate."""
        days = sorted((d for d in self.daily_rates if d <= on), reverse=True)
        days = days or sorted(self.daily_rates)  # before the first table: the earliest one
        for day in days:
            table = self.daily_rates[day]
            if currency in table:
                return table[currency], day
        raise NoRate(f"no settlement rate for {currency}")

    def fx_class(self, uscc: str | None) -> str:
        """The enterprise's SAFE class (A unless listed)."""
        return (self.classes or {}).get(uscc or "", "A")


def to_cny(amount: Decimal, rate: Decimal) -> Decimal:
    """Foreign amount × rate, rounded to the fen half up."""
    return (amount * rate).quantize(FEN, rounding=ROUND_HALF_UP)


def registration_no(declaration_id: str, on: date) -> str:
    """A class C enterprise's per-transaction SAFE registration number (登记表)."""
    digits = int(hashlib.sha256(f"safe|{declaration_id}".encode()).hexdigest(), 16) % 10**8
    return f"SAFE{on:%Y%m%d}{digits:08d}"


def simulated_receipt(
    declared: Decimal,
    *,
    scenario: Scenario | None,
    ref: ForexReference,
    rng: random.Random,
    share: Decimal | None = None,
) -> tuple[Decimal, int]:
    """What the simulated buyer pays and how many days after export: seeded, mostly in full.

    Forced (sandbox): `share` of the declared value on day 30; short_payment pays 80% unless
    a share is given; happy pays in full on day 30.
    """
    if share is None and scenario is Scenario.SHORT_PAYMENT:
        share = DEFAULT_SHARE
    if share is not None:
        return (declared * share).quantize(FEN, rounding=ROUND_HALF_UP), 30
    if scenario is Scenario.HAPPY:
        return declared, 30
    draw = Decimal(str(rng.random()))
    days = rng.randint(7, 60)
    if draw < ref.buyer.partial:
        share = Decimal(rng.randint(50, 90)) / 100
        return (declared * share).quantize(FEN), days
    if draw < ref.buyer.partial + ref.buyer.over:
        share = Decimal(rng.randint(105, 120)) / 100
        return (declared * share).quantize(FEN), days
    if draw < ref.buyer.partial + ref.buyer.over + ref.buyer.late:
        return declared, rng.randint(ref.late_days + 1, 2 * ref.late_days)
    return declared, days


def match(declared: Decimal, received: Decimal, tolerance: Decimal) -> str:
    """matched within the tolerance (a share of the declared value), else partial or over."""
    if abs(received - declared) <= declared * tolerance:
        return "matched"
    return "partial" if received < declared else "over"


def receipt_reason(result: str, held: Decimal, late: bool) -> str | None:
    """The reason code a settlement reports: F201 short, F202 excess held, F203 late."""
    if result == "partial":
        return "F201"
    if held > 0:
        return "F202"
    return "F203" if late else None


def _class_checks(
    fx_class: str, declared: Decimal, received: Decimal, reg: str | None
) -> list[str]:
    if fx_class == "A":
        return ["class A: simplified documents (单证简化)"]
    if fx_class == "B":
        return [f"class B: electronic data check (电子数据核查) declared {declared} vs {received}"]
    return [f"class C: registered with SAFE before the transaction (逐笔登记) No. {reg}"]


def settle(
    declared: Decimal,
    currency: str,
    ref: ForexReference,
    *,
    received: Decimal | None = None,
    days_after_export: int = 30,
    uscc: str | None = None,
    on: date,
    declaration_id: str = "",
) -> ReceiptSettled:
    """Match an export receipt to the declared value and settle it (结汇) at the day's rate.

    Partial: what arrived is settled, the rest stays outstanding. Over: class A settles all;
    B and C settle the declared value and hold the excess for review. Late: settled, and a
    trade-credit report is due.
    """
    amount = declared if received is None else received
    rate, rate_day = ref.rate(currency, on)
    fx_class = ref.fx_class(uscc)
    result = match(declared, amount, ref.tolerance)
    settled, held, outstanding = amount, ZERO, ZERO
    if result == "partial":
        outstanding = declared - amount
    elif result == "over" and fx_class != "A":
        settled, held = declared, amount - declared
    reg = registration_no(declaration_id, on) if fx_class == "C" else None
    checks = _class_checks(fx_class, declared, amount, reg)
    checks.append(
        f"match: received {amount} vs declared {declared}, tolerance ±{ref.tolerance} → {result}"
    )
    if result == "partial":
        checks.append(
            f"F201 short receipt (收汇不足): {outstanding} {currency} outstanding; the exporter "
            "must explain the difference or report it as a trade credit"
        )
    late = days_after_export > ref.late_days
    if late:
        checks.append(
            f"late: received {days_after_export} days after export (> {ref.late_days}): "
            "trade-credit report due within 30 days (贸易信贷报告)"
        )
        result = "late" if result == "matched" else result
    amount_cny = to_cny(settled, rate)
    return ReceiptSettled(
        amount=settled,
        currency=currency,
        rate=rate,
        amount_cny=amount_cny,
        declared=declared,
        match=result,
        reason_code=receipt_reason(result, held, late),
        outstanding=outstanding,
        held=held,
        fx_class=fx_class,
        registration_no=reg,
        rate_date=rate_day.isoformat(),
        checks=tuple(checks),
        settlement=Explained(
            amount=amount_cny,
            base=settled,
            rate=rate,
            formula=f"CNY = settled {settled} {currency} × the bank's rate of {rate_day} "
            f"({rate}), rounded half up to the fen",
        ),
    )


def register_payment(
    declared: Decimal,
    currency: str,
    ref: ForexReference,
    *,
    paid: Decimal | None = None,
    uscc: str | None = None,
    on: date,
    declaration_id: str = "",
) -> PaymentRegistered:
    """Register an import payment abroad, matched to the declared value, in CNY."""
    amount = declared if paid is None else paid
    rate, rate_day = ref.rate(currency, on)
    fx_class = ref.fx_class(uscc)
    reg = registration_no(declaration_id, on) if fx_class == "C" else None
    result = match(declared, amount, ref.tolerance)
    checks = _class_checks(fx_class, declared, amount, reg)
    checks.append(
        f"match: paid {amount} vs declared {declared}, tolerance ±{ref.tolerance} → {result}"
    )
    return PaymentRegistered(
        amount=amount,
        currency=currency,
        rate=rate,
        amount_cny=to_cny(amount, rate),
        declared=declared,
        match=result,
        fx_class=fx_class,
        registration_no=reg,
        rate_date=rate_day.isoformat(),
        checks=tuple(checks),
    )
