"""Foreign-exchange decisions as pure functions: the day's rate, receipts and payments matched
to the declared value, class A/B/C checks, settlement into CNY (domain.md §4)."""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from schemas.messages import (
    Explained,
    FieldError,
    PaymentRegistered,
    ReceiptSettled,
    TransactionRefused,
)
from schemas.scenarios import DEFAULT_SHARE
from schemas.trade import Scenario
from schemas.units import FEN, ZERO, to_fen
from services.forex.reference import ForexReference


def to_cny(amount: Decimal, rate: Decimal) -> Decimal:
    """Foreign amount × rate, rounded to the fen half up."""
    return to_fen(amount * rate)


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
        return to_fen(declared * share), 30
    if scenario is Scenario.HAPPY:
        return declared, 30
    draw = Decimal(str(rng.random()))
    days = rng.randint(7, 60)
    if draw < ref.buyer.partial:
        return short_receipt(declared, Decimal(rng.randint(50, 90)) / 100), days
    if draw < ref.buyer.partial + ref.buyer.over:
        return short_receipt(declared, Decimal(rng.randint(105, 120)) / 100), days
    if draw < ref.buyer.partial + ref.buyer.over + ref.buyer.late:
        return declared, rng.randint(ref.late_days + 1, 2 * ref.late_days)
    return declared, days


def receipt_days(simulated_days: int, *, released_on: date | None, on: date) -> int:
    """How many days after export the simulated buyer's money came: the simulation's draw,
    but never fewer than have passed between release and `on`, the day forex settles it.

    The sandbox clock moves `on`: a receipt settled 100 days after release did not come on
    day 30, so it is late (F203) whatever the draw said.
    """
    if released_on is None:
        return simulated_days
    return max(simulated_days, (on - released_on).days)


def match(declared: Decimal, received: Decimal, tolerance: Decimal) -> str:
    """matched within the tolerance (a share of the declared value), else partial or over."""
    if abs(received - declared) <= declared * tolerance:
        return "matched"
    return "partial" if received < declared else "over"


REGISTRATION_PATTERN = re.compile(r"SAFE\d{8}\d{8}")


def _finding(code: str, field: str, rule: str, reason: str, reason_zh: str) -> FieldError:
    return FieldError(code=code, field=field, rule=rule, reason=reason, reason_zh=reason_zh)


@dataclass(frozen=True)
class Assessment:
    """What a receipt or payment comes to against the declared value, and why."""

    match: str  # matched, partial, over or late
    settled: Decimal  # what is settled (结汇) or paid out now
    outstanding: Decimal  # still to come (partial)
    held: Decimal  # excess held for review (over-payment, classes B and C)
    findings: tuple[FieldError, ...]


def assess_receipt(
    declared: Decimal,
    received: Decimal,
    *,
    fx_class: str,
    days_after_export: int,
    ref: ForexReference,
    verb: str = "received",
) -> Assessment:
    """Match an amount to the declared value (pure; the sandbox's short payment calls it too).

    Partial (F201): settle what arrived, the rest stays outstanding. Over (F202): class A
    settles it all, B and C settle the declared value and hold the excess for review. Late
    (F203): more than `late_days` after export, the trade credit is reportable (domain.md §4).
    """
    result = match(declared, received, ref.tolerance)
    settled, held, outstanding = received, ZERO, ZERO
    findings: list[FieldError] = []
    if result == "partial":
        outstanding = declared - received
        findings.append(
            _finding(
                "F201",
                "amount",
                "forex.match.partial",
                f"{verb} {received} of the declared {declared} (beyond the ±{ref.tolerance} "
                f"tolerance): {received} settled, {outstanding} outstanding",
                f"收汇金额{received}少于申报金额{declared},已结汇部分,余额{outstanding}待收",
            )
        )
    elif result == "over":
        if fx_class != "A":
            settled, held = declared, received - declared
        findings.append(
            _finding(
                "F202",
                "amount",
                "forex.match.over",
                f"{verb} {received}, more than the declared {declared}: "
                + (
                    "class A settles it all"
                    if fx_class == "A"
                    else f"class {fx_class} settles {declared} and holds {held} for review"
                ),
                f"收汇金额{received}超过申报金额{declared}"
                + ("" if fx_class == "A" else f",超出部分{held}待审核"),
            )
        )
    if days_after_export > ref.late_days:
        findings.append(
            _finding(
                "F203",
                "received_on",
                "forex.trade_credit.late",
                f"{verb} {days_after_export} days after export (> {ref.late_days}): settled; "
                "such trade credit is reported to SAFE within 30 days of export (贸易信贷报告)",
                f"出口后{days_after_export}天收汇(超过{ref.late_days}天),应于出口后30天内办理贸易信贷报告",
            )
        )
        result = "late" if result == "matched" else result
    return Assessment(result, settled, outstanding, held, tuple(findings))


def short_receipt(declared: Decimal, share: Decimal) -> Decimal:
    """A short payment of `share` of the declared value, cut to the fen (sandbox and buyer)."""
    return (declared * share).quantize(FEN)


def refusal(
    *,
    fx_class: str,
    via_api: bool,
    registration: str | None,
    currency: str,
    declared_currency: str,
) -> TransactionRefused | None:
    """Why the bank refuses a receipt or payment the trader filed, or None (class C, currency).

    A class C enterprise registers each transaction with SAFE before it (逐笔登记): filed through
    the API, it must quote the registration number; the simulated enterprise registers itself.
    """
    if currency != declared_currency:
        return TransactionRefused(
            reason_code="F103",
            field="currency",
            rule="forex.currency",
            reason=f"the money is in {currency} but the declaration is in {declared_currency}",
            reason_zh=f"收付汇币种{currency}与报关单币种{declared_currency}不一致",
            fx_class=fx_class,
        )
    if fx_class != "C" or not via_api:
        return None
    if registration is None:
        return TransactionRefused(
            reason_code="F101",
            field="registration_no",
            rule="forex.class_c.registration",
            reason="a class C enterprise must register each receipt or payment with SAFE "
            "before it (逐笔登记): quote the registration number",
            reason_zh="C类企业须事前逐笔到外汇局办理登记,请填写登记表编号",
            fx_class=fx_class,
        )
    if not REGISTRATION_PATTERN.fullmatch(registration):
        return TransactionRefused(
            reason_code="F102",
            field="registration_no",
            rule="forex.class_c.registration_format",
            reason=f"{registration!r} is not a SAFE registration number (SAFE + 8-digit date + "
            "8 digits)",
            reason_zh="外汇局登记表编号格式不正确",
            fx_class=fx_class,
        )
    return None


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


@dataclass(frozen=True)
class _Matched:
    """What settling a receipt and registering a payment share: the day's rate, the SAFE
    class and registration, the match on the total so far, the checks made."""

    rate: Decimal
    rate_day: date
    fx_class: str
    registration: str | None
    total: Decimal
    seen: Assessment
    checks: tuple[str, ...]
    now: Decimal  # this tranche: what the match settles beyond earlier tranches


def _matched(
    declared: Decimal,
    currency: str,
    ref: ForexReference,
    amount: Decimal,
    on: date,
    uscc: str | None,
    declaration_id: str,
    registration: str | None,
    earlier: Decimal,
    days_after_export: int,
    verb: str,
    so_far: str = "",
) -> _Matched:
    """`amount` now, `earlier` before, matched to `declared` as of `on` (see `settle`)."""
    rate, rate_day = ref.rate(currency, on)
    fx_class = ref.fx_class(uscc)
    total = earlier + amount
    seen = assess_receipt(
        declared, total, fx_class=fx_class, days_after_export=days_after_export, ref=ref, verb=verb
    )
    reg = (registration or registration_no(declaration_id, on)) if fx_class == "C" else None
    checks = _class_checks(fx_class, declared, total, reg)
    checks.append(
        f"match: {verb} {total}{so_far} vs declared {declared}, tolerance ±{ref.tolerance} "
        f"→ {seen.match}"
    )
    checks.extend(f"{f.code} {f.reason}" for f in seen.findings)
    return _Matched(
        rate, rate_day, fx_class, reg, total, seen, tuple(checks), seen.settled - earlier
    )


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
    registration: str | None = None,
    earlier: Decimal = ZERO,
    tranche: int = 1,
) -> ReceiptSettled:
    """Match an export receipt to the declared value and settle it (结汇) at the day's rate.

    Partial, over and late receipts as `assess_receipt` says, on the total received so far
    (`earlier` is what earlier tranches settled of a partial receipt); this tranche settles the
    difference. Class C: the registration quoted, else the one the simulated enterprise made.
    """
    amount = declared if received is None else received
    so_far = f" (tranche {tranche}: {earlier} before + {amount} now)" if tranche > 1 else ""
    m = _matched(
        declared,
        currency,
        ref,
        amount,
        on,
        uscc,
        declaration_id,
        registration,
        earlier,
        days_after_export,
        "received",
        so_far,
    )
    late = days_after_export > ref.late_days
    amount_cny = to_cny(m.now, m.rate)
    return ReceiptSettled(
        tranche=tranche,
        received_total=m.total,
        amount=m.now,
        currency=currency,
        rate=m.rate,
        amount_cny=amount_cny,
        declared=declared,
        match=m.seen.match,
        reason_code=receipt_reason(m.seen.match, m.seen.held, late),
        outstanding=m.seen.outstanding,
        held=m.seen.held,
        fx_class=m.fx_class,
        registration_no=m.registration,
        rate_date=m.rate_day.isoformat(),
        checks=m.checks,
        settlement=Explained(
            amount=amount_cny,
            base=m.now,
            rate=m.rate,
            formula=f"CNY = settled {m.now} {currency} × the bank's rate of {m.rate_day} "
            f"({m.rate}), rounded half up to the fen",
        ),
        findings=m.seen.findings,
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
    registration: str | None = None,
    earlier: Decimal = ZERO,
    tranche: int = 1,
) -> PaymentRegistered:
    """Register an import payment abroad, matched to the declared value, in CNY.

    Short (F201): the rest stays payable; over (F202): classes B and C pay the declared value
    and hold the excess for review. No late rule: imports are paid on the contract's terms.
    A later tranche of a short payment is matched on the total, as for receipts.
    """
    amount = declared if paid is None else paid
    m = _matched(
        declared, currency, ref, amount, on, uscc, declaration_id, registration, earlier, 0, "paid"
    )
    return PaymentRegistered(
        tranche=tranche,
        received_total=m.total,
        amount=m.now,
        currency=currency,
        rate=m.rate,
        amount_cny=to_cny(m.now, m.rate),
        declared=declared,
        match=m.seen.match,
        fx_class=m.fx_class,
        registration_no=m.registration,
        rate_date=m.rate_day.isoformat(),
        checks=m.checks,
        outstanding=m.seen.outstanding,
        held=m.seen.held,
        findings=m.seen.findings,
    )
