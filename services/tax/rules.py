"""Tax decisions as pure functions: export VAT refund and import duty, consumption tax and VAT."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from schemas.messages import Explained, ImportTaxesCollected, RefundDenied, RefundPaid, ValueLine
from schemas.trade import Scenario

FEN = Decimal("0.01")
ZERO = Decimal(0)


def to_fen(amount: Decimal) -> Decimal:
    """Round to the fen, half up."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class RateTable:
    """Rates keyed by HS-code prefix; the longest matching prefix wins, "" is the default."""

    by_prefix: dict[str, Decimal]

    @classmethod
    def from_json(cls, raw: dict[str, str]) -> RateTable:
        """Build from a {prefix: rate} mapping."""
        return cls({k: Decimal(v) for k, v in raw.items()})

    def rate(self, hs_code: str) -> Decimal:
        """The rate of the longest prefix of `hs_code` on the table."""
        for length in range(len(hs_code), -1, -1):
            rate = self.by_prefix.get(hs_code[:length])
            if rate is not None:
                return rate
        return ZERO


@dataclass(frozen=True)
class TaxReference:
    """The tax tables."""

    refund: RateTable
    duty: RateTable
    consumption: RateTable
    vat: RateTable

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> TaxReference:
        """Build from the shipped JSON document."""
        return cls(
            refund=RateTable.from_json(raw["refund_rates"]),
            duty=RateTable.from_json(raw["duty_rates"]),
            consumption=RateTable.from_json(raw["consumption_tax_rates"]),
            vat=RateTable.from_json(raw["vat_rates"]),
        )


REFUND_FORMULA = "refund = FOB value × FX rate × refund rate (免抵退 ceiling, no duty-free inputs)"


def export_refund(
    lines: Sequence[ValueLine], *, scenario: Scenario | None, ref: TaxReference
) -> RefundPaid | RefundDenied:
    """The export VAT refund of the declaration's lines, or the reason it is denied."""
    if scenario is Scenario.REFUND_DENIED:
        return RefundDenied(
            reason_code="T201",
            reason="no matching VAT purchase invoice on file",
            reason_zh="无对应增值税专用发票",
        )
    explained = []
    for line in lines:
        rate = ref.refund.rate(line.hs_code)
        explained.append(
            Explained(
                amount=to_fen(line.value_cny * rate),
                base=line.value_cny,
                rate=rate,
                formula=f"HS {line.hs_code}: {REFUND_FORMULA}",
            )
        )
    total = sum((e.amount for e in explained), ZERO)
    if total <= 0:
        return RefundDenied(
            reason_code="T202",
            reason="every line carries a 0% export refund rate",
            reason_zh="商品出口退税率为零",
        )
    base = sum((line.value_cny for line in lines), ZERO)
    effective = (total / base).quantize(Decimal("0.0001")) if base else ZERO
    return RefundPaid(
        refund=Explained(
            amount=total, base=base, rate=effective, formula="sum of the line refunds"
        ),
        lines=tuple(explained),
    )


def import_taxes(lines: Sequence[ValueLine], *, ref: TaxReference) -> ImportTaxesCollected:
    """Duty, consumption tax and VAT, ad valorem, summed over the lines (domain.md §5.2)."""
    duty_total = ct_total = vat_total = base_total = ZERO
    for line in lines:
        value = line.value_cny
        duty = to_fen(value * ref.duty.rate(line.hs_code))
        ct_rate = ref.consumption.rate(line.hs_code)
        ct = to_fen((value + duty) / (1 - ct_rate) * ct_rate) if ct_rate else ZERO
        vat = to_fen((value + duty + ct) * ref.vat.rate(line.hs_code))
        duty_total += duty
        ct_total += ct
        vat_total += vat
        base_total += value

    def effective(amount: Decimal, base: Decimal) -> Decimal:
        return (amount / base).quantize(Decimal("0.0001")) if base else ZERO

    ct_base = base_total + duty_total + ct_total
    return ImportTaxesCollected(
        duty=Explained(
            amount=duty_total,
            base=base_total,
            rate=effective(duty_total, base_total),
            formula="duty = customs value × duty rate",
        ),
        consumption_tax=Explained(
            amount=ct_total,
            base=base_total + duty_total,
            rate=effective(ct_total, ct_base),
            formula="CT = (value + duty) / (1 − CT rate) × CT rate",
        ),
        vat=Explained(
            amount=vat_total,
            base=ct_base,
            rate=effective(vat_total, ct_base),
            formula="VAT = (value + duty + CT) × VAT rate",
        ),
        total=duty_total + ct_total + vat_total,
    )
