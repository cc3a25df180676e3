"""Tax decisions as pure functions: export VAT refund (免退 / 免抵退 / 无票免税), import duty,
consumption tax and VAT, and CBEC retail import at 70% within the limits (domain.md §5)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from schemas.messages import (
    Explained,
    ExportExempted,
    ImportTaxesCollected,
    ImportTaxesRefused,
    RefundDenied,
    RefundPaid,
    ReturnAssessed,
    ValueLine,
)
from schemas.trade import EnterpriseType, Scenario, TaxFiling, TradeMode
from schemas.units import ZERO, to_fen
from services.tax.reference import TaxReference

CBEC_RETAIL_IMPORT = frozenset({TradeMode.CBEC_RETAIL, TradeMode.CBEC_BONDED})


def _ratio(amount: Decimal, base: Decimal) -> Decimal:
    return (amount / base).quantize(Decimal("0.0001")) if base else ZERO


def in_pilot_zone(uscc: str, ref: TaxReference) -> bool:
    """Whether the enterprise is registered in a CBEC comprehensive pilot zone (综试区).

    Characters 3-8 of the USCC are the administrative division; its first four name the city.
    """
    return uscc[2:6] in ref.pilot_zones


def enterprise_type(uscc: str, filing: TaxFiling | None, ref: TaxReference) -> EnterpriseType:
    """Trading firm or manufacturer: as filed, else the tax bureau's register, else trading."""
    if filing is not None and filing.enterprise_type is not None:
        return filing.enterprise_type
    return ref.enterprises.get(uscc, EnterpriseType.TRADING)


# --- export refund ---------------------------------------------------------------------------


def _denied(code: str, field: str, rule: str, reason: str, reason_zh: str) -> RefundDenied:
    return RefundDenied(
        reason_code=code, field=field, rule=rule, reason=reason, reason_zh=reason_zh
    )


def export_refund(
    lines: Sequence[ValueLine],
    *,
    scenario: Scenario | None,
    ref: TaxReference,
    trade_mode: TradeMode = TradeMode.GENERAL,
    uscc: str = "",
    filing: TaxFiling | None = None,
    customs_closed: bool = True,
    forex_settled: bool = True,
) -> RefundPaid | RefundDenied | ExportExempted:
    """The export VAT refund of the declaration's lines, its exemption, or why it is denied."""
    if scenario is Scenario.REFUND_DENIED:
        return _denied(
            "T201",
            "tax_filing.purchase_invoice_amount",
            "tax.refund.invoice",
            "no matching VAT purchase invoice on file",
            "无对应增值税专用发票",
        )
    if not customs_closed:
        return _denied(
            "T204",
            "entry_id",
            "tax.refund.customs_closed",
            "customs has not closed the declaration (结关)",
            "报关单未结关",
        )
    if not forex_settled:
        return _denied(
            "T205",
            "forex",
            "tax.refund.forex_settled",
            "the export proceeds are not settled (结汇)",
            "出口收汇未结汇",
        )
    if filing is not None and filing.no_purchase_invoice:
        return _no_invoice(lines, trade_mode=trade_mode, uscc=uscc, ref=ref)
    if all(ref.refund_rate(line) == 0 for line in lines):
        return _denied(
            "T202",
            "items",
            "tax.refund.rate",
            "every line carries a 0% export refund rate",
            "商品出口退税率为零",
        )
    if enterprise_type(uscc, filing, ref) is EnterpriseType.MANUFACTURER:
        return exempt_credit_refund(lines, filing=filing or TaxFiling(), ref=ref)
    return exempt_refund(lines, filing=filing, ref=ref)


def _no_invoice(
    lines: Sequence[ValueLine], *, trade_mode: TradeMode, uscc: str, ref: TaxReference
) -> ExportExempted | RefundDenied:
    """无票: 9610 exports of a pilot-zone firm are exempt (Caishui [2018] No. 103), else taxed."""
    if trade_mode is not TradeMode.CBEC_RETAIL:
        return _denied(
            "T203",
            "tax_filing.no_purchase_invoice",
            "tax.no_invoice.cbec_9610_only",
            "no purchase invoice: only 9610 exports in a pilot zone are exempt without one",
            "无进货凭证,不适用无票免税",
        )
    if not in_pilot_zone(uscc, ref):
        return _denied(
            "T206",
            "declarant.uscc",
            "tax.no_invoice.pilot_zone",
            f"no purchase invoice and the enterprise (division {uscc[2:8]}) is not in a CBEC "
            "comprehensive pilot zone: treated as a domestic sale",
            "企业不在跨境电子商务综合试验区内,无票出口视同内销",
        )
    cancelled = [line.hs_code for line in lines if ref.refund_rate(line) == 0]
    if cancelled:
        first = next(i for i, line in enumerate(lines) if ref.refund_rate(line) == 0)
        return _denied(
            "T207",
            f"items[{first}].hs_code",
            "tax.no_invoice.cancelled_refund",
            f"HS {', '.join(cancelled)} carry no refund (cancelled-refund list): not exempt",
            "商品属于取消出口退税的货物,不适用无票免税",
        )
    value = sum((line.value_cny for line in lines), ZERO)
    return ExportExempted(
        rule="Caishui [2018] No. 103 (9610 无票免税)",
        exempt_value=value,
        reason="pilot-zone e-commerce export without purchase invoice: VAT and CT exempt, "
        "no refund",
        reason_zh="综试区跨境电商零售出口无票免税:免征增值税、消费税,不予退税",
    )


def _invoice_bases(lines: Sequence[ValueLine], filing: TaxFiling | None) -> list[Decimal]:
    """The invoice amount (excl. VAT) of each line: as filed, split by value, else the value."""
    values = [line.value_cny for line in lines]
    total = sum(values, ZERO)
    if filing is None or filing.purchase_invoice_amount is None or total == 0:
        return values
    invoice = filing.purchase_invoice_amount
    bases = [to_fen(invoice * v / total) for v in values[:-1]]
    return [*bases, invoice - sum(bases, ZERO)]  # the last line takes the rounding rest


def exempt_refund(
    lines: Sequence[ValueLine], *, filing: TaxFiling | None, ref: TaxReference
) -> RefundPaid:
    """免退税 (trading firm): refund = VAT-invoice amount excl. VAT × refund rate, per line."""
    explained = []
    for line, base in zip(lines, _invoice_bases(lines, filing), strict=True):
        rate = ref.refund_rate(line)
        explained.append(
            Explained(
                amount=to_fen(base * rate),
                base=base,
                rate=rate,
                formula=f"HS {line.hs_code}: 免退 refund = invoice amount excl. VAT {base} "
                f"× refund rate {rate}",
            )
        )
    total = sum((e.amount for e in explained), ZERO)
    base = sum((e.base for e in explained), ZERO)
    return RefundPaid(
        refund=Explained(
            amount=total,
            base=base,
            rate=_ratio(total, base),
            formula="免退: sum of the line refunds (invoice amount excl. VAT × refund rate)",
        ),
        lines=tuple(explained),
        method="免退",
    )


def exempt_credit_refund(
    lines: Sequence[ValueLine], *, filing: TaxFiling, ref: TaxReference
) -> RefundPaid:
    """免抵退 (manufacturer): the four steps of domain.md §5.1, duty-free inputs split by value."""
    values = [line.value_cny for line in lines]
    fob = sum(values, ZERO)
    inputs = [filing.duty_free_inputs * v / fob if fob else ZERO for v in values]
    gaps = [ref.vat_rate(line) - ref.refund_rate(line) for line in lines]
    rates = [ref.refund_rate(line) for line in lines]
    # 1. 不得免征和抵扣税额 = FOB × (VAT − refund) − duty-free inputs × (VAT − refund)
    non_creditable = to_fen(
        sum((v * g for v, g in zip(values, gaps, strict=True)), ZERO)
        - sum((d * g for d, g in zip(inputs, gaps, strict=True)), ZERO)
    )
    # 2. 应纳税额 = output VAT − (input VAT − non-creditable) − prior credit
    due = filing.domestic_output_vat - (filing.input_vat - non_creditable) - filing.prior_credit
    end_credit = -due if due < 0 else ZERO
    # 3. 免抵退税额 ceiling = (FOB − duty-free inputs) × refund rate
    ceiling = to_fen(
        sum(((v - d) * r for v, d, r in zip(values, inputs, rates, strict=True)), ZERO)
    )
    # 4. refund = the smaller of the end credit and the ceiling; 免抵 = ceiling − refund
    refund = to_fen(min(end_credit, ceiling))
    exempt = ceiling - refund
    gap = _ratio(sum((v * g for v, g in zip(values, gaps, strict=True)), ZERO), fob)
    steps = (
        Explained(
            amount=non_creditable,
            base=fob,
            rate=gap,
            formula=f"1. non-creditable = FOB × FX × (VAT − refund rate) − duty-free inputs "
            f"{filing.duty_free_inputs} × (same difference)",
        ),
        Explained(
            amount=due,
            base=filing.input_vat,
            rate=ZERO,
            formula=f"2. tax due = output VAT {filing.domestic_output_vat} − (input VAT "
            f"{filing.input_vat} − {non_creditable}) − prior credit {filing.prior_credit}; "
            f"end credit {end_credit}",
        ),
        Explained(
            amount=ceiling,
            base=fob - filing.duty_free_inputs,
            rate=_ratio(ceiling, fob - filing.duty_free_inputs),
            formula="3. ceiling = (FOB × FX − duty-free inputs) × refund rate",
        ),
        Explained(
            amount=refund,
            base=end_credit,
            rate=ZERO,
            formula=f"4. end credit {end_credit} {'≤' if end_credit <= ceiling else '>'} ceiling "
            f"{ceiling}: refund = {'end credit' if end_credit <= ceiling else 'ceiling'}; "
            f"免抵 = ceiling − refund = {exempt}",
        ),
    )
    per_line = tuple(
        Explained(
            amount=to_fen((v - d) * r),
            base=to_fen(v - d),
            rate=r,
            formula=f"HS {line.hs_code}: ceiling share = (FOB − duty-free inputs) × refund rate",
        )
        for line, v, d, r in zip(lines, values, inputs, rates, strict=True)
    )
    return RefundPaid(
        refund=Explained(
            amount=refund,
            base=ceiling,
            rate=_ratio(refund, fob),
            formula="免抵退: refund = min(end credit, ceiling) (four steps)",
        ),
        lines=per_line,
        method="免抵退",
        steps=steps,
        exempt_credit=exempt,
    )


# --- import taxes ----------------------------------------------------------------------------


class QuotaExceeded(ValueError):
    """A retail import that would take the buyer over the annual limit: general trade only."""


def import_taxes(
    lines: Sequence[ValueLine],
    *,
    ref: TaxReference,
    trade_mode: TradeMode = TradeMode.GENERAL,
    year_to_date: Decimal = ZERO,
) -> ImportTaxesCollected:
    """Duty, consumption tax and VAT (domain.md §5.2); CBEC retail imports at 70% in limits."""
    if trade_mode in CBEC_RETAIL_IMPORT:
        return retail_import_taxes(lines, ref=ref, year_to_date=year_to_date)
    return _general(lines, ref=ref)


def _general(
    lines: Sequence[ValueLine], *, ref: TaxReference, regime: str = "general"
) -> ImportTaxesCollected:
    """Ad valorem, line by line, each figure rounded to the fen then summed."""
    duty_total = ct_total = vat_total = base_total = ZERO
    explained = []
    for line in lines:
        value = line.value_cny
        d_rate, c_rate, v_rate = ref.duty_rate(line), ref.ct_rate(line), ref.vat_rate(line)
        duty = to_fen(value * d_rate)
        ct = to_fen((value + duty) / (1 - c_rate) * c_rate) if c_rate else ZERO
        vat = to_fen((value + duty + ct) * v_rate)
        explained.append(
            Explained(
                amount=duty + ct + vat,
                base=value,
                rate=_ratio(duty + ct + vat, value),
                formula=f"HS {line.hs_code}: duty {value} × {d_rate} = {duty}; CT ({value} + "
                f"{duty}) / (1 − {c_rate}) × {c_rate} = {ct}; VAT ({value} + {duty} + {ct}) × "
                f"{v_rate} = {vat}",
            )
        )
        duty_total += duty
        ct_total += ct
        vat_total += vat
        base_total += value
    ct_base = base_total + duty_total + ct_total
    return ImportTaxesCollected(
        duty=Explained(
            amount=duty_total,
            base=base_total,
            rate=_ratio(duty_total, base_total),
            formula="duty = customs value × duty rate",
        ),
        consumption_tax=Explained(
            amount=ct_total,
            base=base_total + duty_total,
            rate=_ratio(ct_total, ct_base),
            formula="CT = (value + duty) / (1 − CT rate) × CT rate",
        ),
        vat=Explained(
            amount=vat_total,
            base=ct_base,
            rate=_ratio(vat_total, ct_base),
            formula="VAT = (value + duty + CT) × VAT rate",
        ),
        total=duty_total + ct_total + vat_total,
        regime=regime,
        lines=tuple(explained),
    )


def retail_import_taxes(
    lines: Sequence[ValueLine], *, ref: TaxReference, year_to_date: Decimal
) -> ImportTaxesCollected:
    """CBEC retail import (Caiguanshui [2016] 18, [2018] 49): duty 0, CT and VAT at 70%.

    A single indivisible item over the transaction limit (but within the annual one) is taxed
    in full as goods and counted toward the annual total; over the annual limit: QuotaExceeded.
    """
    value = sum((line.value_cny for line in lines), ZERO)
    used = year_to_date + value
    if used > ref.cbec_annual_limit:
        raise QuotaExceeded(
            f"buyer's annual total would be {used} > RMB {ref.cbec_annual_limit}: "
            "general trade only"
        )
    quota = _quota(ref, year_to_date, value)
    if value > ref.cbec_transaction_limit:
        full = _general(lines, ref=ref, regime="cbec_retail_full")
        return full.model_copy(update={"message": "CEB816", "quota": quota})
    k = ref.cbec_rate
    ct_total = vat_total = ZERO
    explained = []
    for line in lines:
        v = line.value_cny
        c_rate, v_rate = ref.ct_rate(line), ref.vat_rate(line)
        full_ct = v / (1 - c_rate) * c_rate
        ct = to_fen(full_ct * k)
        vat = to_fen((v + full_ct) * v_rate * k)
        composite = (c_rate + v_rate) / (1 - c_rate) * k
        explained.append(
            Explained(
                amount=ct + vat,
                base=v,
                rate=composite.quantize(Decimal("0.000001")),
                formula=f"HS {line.hs_code}: composite rate [(CT {c_rate} + VAT {v_rate}) / "
                f"(1 − {c_rate})] × {k}; CT {ct} + VAT {vat}",
            )
        )
        ct_total += ct
        vat_total += vat
    return ImportTaxesCollected(
        duty=Explained(
            amount=ZERO, base=value, rate=ZERO, formula="duty 0% within the CBEC retail limits"
        ),
        consumption_tax=Explained(
            amount=ct_total,
            base=value,
            rate=_ratio(ct_total, value),
            formula=f"CT = value / (1 − CT rate) × CT rate × {k}",
        ),
        vat=Explained(
            amount=vat_total,
            base=value,
            rate=_ratio(vat_total, value),
            formula=f"VAT = (value + CT at full rate) × VAT rate × {k}",
        ),
        total=ct_total + vat_total,
        regime="cbec_retail",
        message="CEB816",
        lines=tuple(explained),
        quota=quota,
    )


def restore_quota(
    year_to_date: Decimal,
    amount: Decimal,
    *,
    released: date,
    returned: date,
    ref: TaxReference,
) -> Decimal:
    """The buyer's year-to-date total after a return (CEB625): restored within the window."""
    if (returned - released).days <= ref.return_window_days:
        return max(year_to_date - amount, ZERO)
    return year_to_date


def _quota(ref: TaxReference, year_to_date: Decimal, value: Decimal = ZERO) -> Explained:
    """The buyer's annual quota left after `value` is added to the year (CBEC retail import)."""
    used = year_to_date + value
    counted = f"(year to date {year_to_date} + this order {value})" if value else year_to_date
    return Explained(
        amount=ref.cbec_annual_limit - used,
        base=used,
        rate=ref.cbec_rate,
        formula=f"annual limit {ref.cbec_annual_limit} − {counted} = remaining quota",
    )


def annual_limit_refusal(
    lines: Sequence[ValueLine], *, ref: TaxReference, year_to_date: Decimal
) -> ImportTaxesRefused | None:
    """T301 when this order takes the buyer's year over the annual limit, else None."""
    value = sum((line.value_cny for line in lines), ZERO)
    used = year_to_date + value
    if used <= ref.cbec_annual_limit:
        return None
    return ImportTaxesRefused(
        reason_code="T301",
        field="cbec.buyer_id_number",
        rule="cbec.annual_limit",
        reason=f"the buyer's purchases this year would be {used} > RMB {ref.cbec_annual_limit} "
        f"(year to date {year_to_date} + this order {value}): general trade only",
        reason_zh=f"超过跨境电商零售进口个人年度交易限值{ref.cbec_annual_limit}元,应按一般贸易进口",
        quota=_quota(ref, year_to_date, value),
    )


def assess_return(
    *,
    counted: Decimal,
    tax_paid: Decimal,
    year_to_date: Decimal,
    released: date,
    returned: date,
    ref: TaxReference,
) -> ReturnAssessed:
    """A retail return (CEB625): within `return_window_days` of release the tax is refunded and
    the order's value leaves the buyer's year (domain.md §1.3); after it, nothing changes."""
    days = (returned - released).days
    after = restore_quota(year_to_date, counted, released=released, returned=returned, ref=ref)
    quota = _quota(ref, after)
    if days <= ref.return_window_days:
        return ReturnAssessed(
            within_window=True,
            days_after_release=days,
            tax_refunded=tax_paid,
            quota=quota,
            reason=f"returned {days} days after release (≤ {ref.return_window_days}): tax "
            f"{tax_paid} refunded, {counted} restored to the buyer's annual quota",
            reason_zh=f"放行后{days}天内申请退货:退还税款{tax_paid}元,恢复个人年度额度{counted}元",
        )
    return ReturnAssessed(
        within_window=False,
        days_after_release=days,
        tax_refunded=ZERO,
        quota=quota,
        reason_code="T302",
        reason=f"returned {days} days after release (> {ref.return_window_days}): no tax "
        "refund, the quota stays used",
        reason_zh=f"放行后超过{ref.return_window_days}天申请退货,不予退税,额度不予恢复",
    )
