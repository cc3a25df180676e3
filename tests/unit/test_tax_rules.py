"""Tax decisions: 免退, 免抵退, 无票免税, import duty / CT / VAT, CBEC retail at 70% (domain.md §5)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from schemas.codes import make_uscc
from schemas.messages import ExportExempted, ImportTaxesCollected, RefundDenied, RefundPaid
from schemas.samples import DEMO_USCC
from schemas.trade import EnterpriseType, Scenario, TaxFiling, TradeMode
from services.tax.reference import RateTable
from services.tax.reference import load_reference as tax_reference
from services.tax.rules import (
    QuotaExceeded,
    annual_limit_refusal,
    assess_return,
    enterprise_type,
    export_refund,
    import_taxes,
    in_pilot_zone,
    restore_quota,
)
from tests.unit.builders import CBEC_IMPORT_MODES, EXPORT_MODES, line

REF = tax_reference()
D = Decimal
OUTSIDE = make_uscc("91620500MA000000")  # Tianshui, Gansu (6205): not a pilot-zone city
MANUFACTURER = "91440300MA5DAE000L"  # on the shipped register as a manufacturer


def _phones(value: str = "85200.00") -> list:  # type: ignore[type-arg]
    return [line("8517130000", value, vat_rate="0.13", refund_rate="0.13")]


def _refund(lines_: list, **kw: object) -> RefundPaid:  # type: ignore[type-arg]
    result = export_refund(lines_, scenario=None, ref=REF, **kw)  # type: ignore[arg-type]
    assert isinstance(result, RefundPaid), result
    return result


# --- 免退: trading firms -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", EXPORT_MODES)
def test_trading_firm_refund_is_the_invoice_amount_times_the_refund_rate(mode: TradeMode) -> None:
    """No invoice amount filed: deemed the customs value. CNY 85,200.00 × 13% = 11,076.00."""
    paid = _refund(_phones(), trade_mode=mode, uscc=DEMO_USCC)
    assert (paid.method, paid.refund.amount, paid.refund.base) == (
        "免退",
        D("11076.00"),
        D("85200.00"),
    )
    assert "invoice amount excl. VAT 85200.00 × refund rate 0.13" in paid.lines[0].formula


def test_filed_invoice_amount_is_the_refund_base() -> None:
    """Invoice excl. VAT CNY 70,000.00 × 13% = 9,100.00 (not the FOB value 85,200.00)."""
    filing = TaxFiling(purchase_invoice_amount=D("70000.00"))
    assert _refund(_phones(), filing=filing).refund.amount == D("9100.00")


def test_invoice_is_split_over_the_lines_by_value() -> None:
    """Lines 60,000.00 (13%) and 40,000.00 (9%), invoice 80,000.00:
    split 48,000.00 and 32,000.00 → 6,240.00 + 2,880.00 = 9,120.00."""
    lines_ = [
        line("8517130000", "60000.00", refund_rate="0.13"),
        line("2905110000", "40000.00", refund_rate="0.09"),
    ]
    paid = _refund(lines_, filing=TaxFiling(purchase_invoice_amount=D("80000.00")))
    assert [(e.base, e.amount) for e in paid.lines] == [
        (D("48000.00"), D("6240.00")),
        (D("32000.00"), D("2880.00")),
    ]
    assert paid.refund.amount == D("9120.00")


def test_line_refund_is_rounded_half_up_and_zero_lines_add_nothing() -> None:
    """1,234.57 × 13% = 160.4941 → 160.49; 0.50 × 9% = 0.045 → 0.05; steel at 0% → 0.00."""
    paid = _refund(
        [
            line("8517130000", "1234.57", refund_rate="0.13"),
            line("0303140000", "0.50", refund_rate="0.09"),
            line("7208100000", "50000.00", refund_rate="0"),
        ]
    )
    assert [e.amount for e in paid.lines] == [D("160.49"), D("0.05"), D("0.00")]
    assert paid.refund.amount == D("160.54")


def test_lines_without_tariff_rates_fall_back_to_the_prefix_table() -> None:
    """Soybean meal 2304001000: refund cancelled (0%); only 0% lines → denied T202."""
    result = export_refund([line("2304001000", "50000.00")], scenario=None, ref=REF)
    assert isinstance(result, RefundDenied) and result.reason_code == "T202"
    assert REF.refund.rate("0303140000") == D("0.09")


# --- 免抵退: manufacturers -----------------------------------------------------------------------


METHANOL = [line("2905110000", "1000000.00", vat_rate="0.13", refund_rate="0.09")]


def test_manufacturer_end_credit_below_the_ceiling_is_refunded_in_full() -> None:
    """FOB CNY 1,000,000.00, VAT 13%, refund 9%; output VAT 50,000, input VAT 170,000.
    1. non-creditable = 1,000,000 × (13% − 9%) = 40,000.00
    2. tax due = 50,000 − (170,000 − 40,000) − 0 = −80,000 → end credit 80,000
    3. ceiling = 1,000,000 × 9% = 90,000.00
    4. 80,000 ≤ 90,000 → refund 80,000.00; 免抵 = 90,000 − 80,000 = 10,000.00
    """
    filing = TaxFiling(
        enterprise_type=EnterpriseType.MANUFACTURER,
        domestic_output_vat=D("50000"),
        input_vat=D("170000"),
    )
    paid = _refund(METHANOL, filing=filing)
    assert paid.method == "免抵退"
    assert [s.amount for s in paid.steps] == [
        D("40000.00"),
        D("-80000"),
        D("90000.00"),
        D("80000.00"),
    ]
    assert (paid.refund.amount, paid.exempt_credit) == (D("80000.00"), D("10000.00"))


def test_manufacturer_end_credit_above_the_ceiling_is_refunded_up_to_it() -> None:
    """Input VAT 300,000: due = 50,000 − (300,000 − 40,000) = −210,000 → credit 210,000
    > ceiling 90,000 → refund 90,000.00, 免抵 0.00."""
    filing = TaxFiling(
        enterprise_type=EnterpriseType.MANUFACTURER,
        domestic_output_vat=D("50000"),
        input_vat=D("300000"),
    )
    paid = _refund(METHANOL, filing=filing)
    assert (paid.refund.amount, paid.exempt_credit) == (D("90000.00"), D("0.00"))


def test_duty_free_inputs_lower_both_the_non_creditable_amount_and_the_ceiling() -> None:
    """Duty-free inputs 200,000:
    1. 40,000 − 200,000 × 4% = 32,000.00
    2. 50,000 − (170,000 − 32,000) = −88,000 → end credit 88,000
    3. ceiling = (1,000,000 − 200,000) × 9% = 72,000.00
    4. 88,000 > 72,000 → refund 72,000.00
    """
    filing = TaxFiling(
        enterprise_type=EnterpriseType.MANUFACTURER,
        domestic_output_vat=D("50000"),
        input_vat=D("170000"),
        duty_free_inputs=D("200000"),
    )
    paid = _refund(METHANOL, filing=filing)
    assert paid.steps[0].amount == D("32000.00")
    assert paid.refund.amount == D("72000.00")


def test_enterprise_type_comes_from_the_filing_then_the_register() -> None:
    assert enterprise_type(MANUFACTURER, None, REF) is EnterpriseType.MANUFACTURER
    assert enterprise_type(DEMO_USCC, None, REF) is EnterpriseType.TRADING
    filed = TaxFiling(enterprise_type=EnterpriseType.TRADING)
    assert enterprise_type(MANUFACTURER, filed, REF) is EnterpriseType.TRADING
    # A registered manufacturer with no input VAT filed: end credit 0, refund 0, all 免抵.
    paid = _refund(_phones(), uscc=MANUFACTURER)
    assert (paid.refund.amount, paid.exempt_credit) == (D("0.00"), D("11076.00"))


# --- 无票免税, prerequisites, denials --------------------------------------------------------------


def test_pilot_zone_9610_export_without_invoice_is_exempt_not_refunded() -> None:
    """Fuzhou (3501) is a pilot-zone city; CNY 85,200.00 exempt from VAT and CT."""
    assert in_pilot_zone(DEMO_USCC, REF)
    result = export_refund(
        _phones(),
        scenario=None,
        ref=REF,
        trade_mode=TradeMode.CBEC_RETAIL,
        uscc=DEMO_USCC,
        filing=TaxFiling(no_purchase_invoice=True),
    )
    assert isinstance(result, ExportExempted)
    assert result.exempt_value == D("85200.00")
    assert "2018" in result.rule and "103" in result.rule


@pytest.mark.parametrize(
    ("mode", "uscc", "lines_", "code"),
    [
        (TradeMode.GENERAL, DEMO_USCC, "phones", "T203"),  # only 9610 may go without invoice
        (TradeMode.CBEC_RETAIL, OUTSIDE, "phones", "T206"),  # outside a pilot zone
        (TradeMode.CBEC_RETAIL, DEMO_USCC, "steel", "T207"),  # cancelled-refund goods
    ],
)
def test_export_without_invoice_is_denied_outside_the_exemption(
    mode: TradeMode, uscc: str, lines_: str, code: str
) -> None:
    goods = _phones() if lines_ == "phones" else [line("7208100000", "100.00", refund_rate="0")]
    result = export_refund(
        goods,
        scenario=None,
        ref=REF,
        trade_mode=mode,
        uscc=uscc,
        filing=TaxFiling(no_purchase_invoice=True),
    )
    assert isinstance(result, RefundDenied) and result.reason_code == code
    assert result.reason_zh
    fields = {
        "T203": "tax_filing.no_purchase_invoice",
        "T206": "declarant.uscc",
        "T207": "items[0].hs_code",
    }
    assert result.field == fields[code] and result.rule and result.rule.startswith("tax.")


@pytest.mark.parametrize(
    ("kw", "code"),
    [({"customs_closed": False}, "T204"), ({"forex_settled": False}, "T205")],
)
def test_refund_needs_customs_closure_and_forex_settlement(kw: dict[str, bool], code: str) -> None:
    result = export_refund(_phones(), scenario=None, ref=REF, **kw)  # type: ignore[arg-type]
    assert isinstance(result, RefundDenied) and result.reason_code == code
    assert (result.field, result.rule) == (
        {"T204": "entry_id", "T205": "forex"}[code],
        {"T204": "tax.refund.customs_closed", "T205": "tax.refund.forex_settled"}[code],
    )


def test_refund_denied_scenario_is_t201() -> None:
    result = export_refund(_phones(), scenario=Scenario.REFUND_DENIED, ref=REF)
    assert isinstance(result, RefundDenied) and result.reason_code == "T201"


# --- general import ----------------------------------------------------------------------------


def _taxes(
    *lines_: object, mode: TradeMode = TradeMode.GENERAL, ytd: str = "0"
) -> ImportTaxesCollected:
    return import_taxes(list(lines_), ref=REF, trade_mode=mode, year_to_date=D(ytd))  # type: ignore[arg-type]


PERFUME = dict(duty_rate="0.03", consumption_tax_rate="0.15", vat_rate="0.13")


def test_general_import_of_perfume_at_the_tariff_rates() -> None:
    """CNY 3,850.00 perfume 3303000000 (duty 3%, CT 15%, VAT 13%):
    duty = 3,850 × 0.03 = 115.50
    CT   = (3,850 + 115.50) / 0.85 × 0.15 = 699.794… → 699.79
    VAT  = (3,850 + 115.50 + 699.79) × 0.13 = 606.4877 → 606.49
    total 1,421.78
    """
    taxes = _taxes(line("3303000000", "3850.00", **PERFUME))
    assert (taxes.duty.amount, taxes.consumption_tax.amount, taxes.vat.amount) == (
        D("115.50"),
        D("699.79"),
        D("606.49"),
    )
    assert taxes.total == D("1421.78")
    assert taxes.regime == "general"
    assert "3850.00 × 0.03 = 115.50" in taxes.lines[0].formula


def test_general_import_of_a_car_uses_the_prefix_table_without_line_rates() -> None:
    """CNY 200,000.00 car 8703231990 (duty 15%, CT 5%, VAT 13% on the fallback table):
    duty 30,000.00; CT 230,000 / 0.95 × 0.05 = 12,105.26; VAT 242,105.26 × 0.13 = 31,473.68."""
    taxes = _taxes(line("8703231990", "200000.00"))
    assert taxes.total == D("73578.94")


def test_wine_and_perfume_are_summed_line_by_line() -> None:
    """perfume 1,000.00 at 3%/15%/13%: 30.00; 1,030 / 0.85 × 0.15 = 181.76; 1,211.76 × 0.13 = 157.53
    wine 500.00 at 14%/10%/13%: 70.00; 570 / 0.9 × 0.1 = 63.33; 633.33 × 0.13 = 82.33
    duty 100.00, CT 245.09, VAT 239.86, total 584.95."""
    taxes = _taxes(
        line("3303000000", "1000.00", **PERFUME),
        line(
            "2204210000", "500.00", duty_rate="0.14", consumption_tax_rate="0.10", vat_rate="0.13"
        ),
    )
    assert (taxes.duty.amount, taxes.consumption_tax.amount, taxes.vat.amount, taxes.total) == (
        D("100.00"),
        D("245.09"),
        D("239.86"),
        D("584.95"),
    )


# --- CBEC retail import ------------------------------------------------------------------------


MILK = dict(duty_rate="0", consumption_tax_rate="0", vat_rate="0.13")


@pytest.mark.parametrize("mode", CBEC_IMPORT_MODES)
def test_retail_import_of_three_thousand_pays_273(mode: TradeMode) -> None:
    """domain.md §5.2: RMB 3,000 × 13% × 70% = RMB 273; duty 0% within the limits."""
    taxes = _taxes(line("1901101000", "3000.00", **MILK), mode=mode)
    assert (taxes.duty.amount, taxes.consumption_tax.amount, taxes.vat.amount) == (
        D("0"),
        D("0.00"),
        D("273.00"),
    )
    assert (taxes.total, taxes.regime, taxes.message) == (D("273.00"), "cbec_retail", "CEB816")
    assert taxes.quota is not None and taxes.quota.amount == D("23000.00")  # 26,000 − 3,000


@pytest.mark.parametrize("mode", CBEC_IMPORT_MODES)
def test_retail_import_with_consumption_tax_uses_the_composite_rate(mode: TradeMode) -> None:
    """CNY 1,000.00 perfume: composite [(0.15 + 0.13) / 0.85] × 0.7 = 0.230588;
    CT = 1,000 / 0.85 × 0.15 × 0.7 = 123.529 → 123.53; VAT = 1,176.47 × 0.13 × 0.7 = 107.06;
    total 230.59 (= 1,000 × 0.230588)."""
    taxes = _taxes(line("3303000000", "1000.00", **PERFUME), mode=mode)
    assert (taxes.consumption_tax.amount, taxes.vat.amount, taxes.total) == (
        D("123.53"),
        D("107.06"),
        D("230.59"),
    )
    assert taxes.lines[0].rate == D("0.230588")


@pytest.mark.parametrize("mode", CBEC_IMPORT_MODES)
def test_single_item_over_five_thousand_is_taxed_in_full(mode: TradeMode) -> None:
    """One handbag CNY 6,000.00 (duty 10%, VAT 13%): duty 600.00; VAT 6,600 × 0.13 = 858.00;
    total 1,458.00, counted toward the annual total (26,000 − 6,000 = 20,000 left)."""
    taxes = _taxes(line("4202210000", "6000.00", duty_rate="0.10", vat_rate="0.13"), mode=mode)
    assert (taxes.duty.amount, taxes.vat.amount, taxes.total) == (
        D("600.00"),
        D("858.00"),
        D("1458.00"),
    )
    assert taxes.regime == "cbec_retail_full"
    assert taxes.quota is not None and taxes.quota.amount == D("20000.00")


@pytest.mark.parametrize("mode", CBEC_IMPORT_MODES)
def test_annual_limit_is_checked_against_the_buyers_year_to_date(mode: TradeMode) -> None:
    """20,000 + 3,000 = 23,000 ≤ 26,000: 3,000 left. 24,000 + 3,000 = 27,000 > 26,000: refused."""
    goods = line("1901101000", "3000.00", **MILK)
    taxes = _taxes(goods, mode=mode, ytd="20000")
    assert taxes.quota is not None and taxes.quota.amount == D("3000.00")
    with pytest.raises(QuotaExceeded, match="27000"):
        _taxes(goods, mode=mode, ytd="24000")


def test_a_return_within_thirty_days_restores_the_quota() -> None:
    """Year to date 23,000; a 3,000 order released 1 March, returned 31 March (30 days): 20,000.
    Returned 1 April (31 days): no restoration."""
    released = date(2025, 3, 1)
    assert restore_quota(
        D(23000), D(3000), released=released, returned=date(2025, 3, 31), ref=REF
    ) == D(20000)
    assert restore_quota(
        D(23000), D(3000), released=released, returned=date(2025, 4, 1), ref=REF
    ) == D(23000)


@pytest.mark.parametrize("mode", CBEC_IMPORT_MODES)
@pytest.mark.parametrize(
    ("ytd", "value", "refused"),
    [
        ("23000", "3000.00", False),  # 23,000 + 3,000 = 26,000: exactly the limit, accepted
        ("23000", "3000.01", True),  # 26,000.01 > 26,000: T301
        ("0", "26000.01", True),  # one order alone over the year's limit
    ],
)
def test_the_annual_limit_refusal_names_the_field_rule_and_code(
    mode: TradeMode, ytd: str, value: str, refused: bool
) -> None:
    lines = [line("1901101000", value, **MILK)]
    found = annual_limit_refusal(lines, ref=REF, year_to_date=D(ytd))
    assert (found is not None) is refused
    if found is not None:
        assert (found.reason_code, found.field, found.rule) == (
            "T301",
            "cbec.buyer_id_number",
            "cbec.annual_limit",
        )
        assert "26000" in found.reason and "年度交易限值" in found.reason_zh
        # 26,000 − (ytd + value) is negative: the quota says by how much.
        assert found.quota is not None
        assert found.quota.amount == D(26000) - D(ytd) - D(value)


def test_a_return_in_the_window_refunds_the_tax_and_restores_the_quota() -> None:
    """Year to date 23,000 with a 3,000 order taxed 273.00, released 1 March 2025.
    Returned 31 March (30 days): 273.00 refunded, year 20,000, quota 26,000 − 20,000 = 6,000.
    Returned 1 April (31 days): T302, nothing refunded, quota 26,000 − 23,000 = 3,000."""
    args = dict(counted=D(3000), tax_paid=D("273.00"), year_to_date=D(23000), ref=REF)
    inside = assess_return(released=date(2025, 3, 1), returned=date(2025, 3, 31), **args)  # type: ignore[arg-type]
    assert (inside.within_window, inside.tax_refunded, inside.quota.amount) == (
        True,
        D("273.00"),
        D(6000),
    )
    assert (inside.days_after_release, inside.reason_code, inside.message) == (30, None, "CEB626")
    late = assess_return(released=date(2025, 3, 1), returned=date(2025, 4, 1), **args)  # type: ignore[arg-type]
    assert (late.within_window, late.tax_refunded, late.quota.amount, late.reason_code) == (
        False,
        D(0),
        D(3000),
        "T302",
    )
    assert late.reason_zh


def test_rate_table_longest_prefix_wins_and_zero_is_not_skipped() -> None:
    table = RateTable.from_json({"": "0.13", "23": "0.09", "2304": "0"})
    assert table.rate("2304001000") == D("0")
    assert table.rate("2309000000") == D("0.09")
    assert table.rate("8517130000") == D("0.13")
