"""Tax decisions: export VAT refund per line, import duty / consumption tax / VAT (domain.md §5)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schemas.messages import ImportTaxesCollected, RefundDenied, RefundPaid
from schemas.trade import Scenario
from services.tax.rules import RateTable, TaxReference, export_refund, import_taxes
from tests.unit.builders import line, shipped

REF = TaxReference.from_json(shipped("tax"))
D = Decimal


def _paid(*lines_: tuple[str, str], ref: TaxReference = REF) -> RefundPaid:
    result = export_refund([line(h, v) for h, v in lines_], scenario=None, ref=ref)
    assert isinstance(result, RefundPaid), result
    return result


def _taxes(*lines_: tuple[str, str], ref: TaxReference = REF) -> ImportTaxesCollected:
    return import_taxes([line(h, v) for h, v in lines_], ref=ref)


# --- rate lookup ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hs_code", "rate"),
    [
        ("2304001000", "0"),  # soybean meal 23040010: refund cancelled (Caishui [2018] 123)
        ("2304009000", "0"),  # 23040090 likewise
        ("2304100000", "0.13"),  # other 2304 lines: no "2304" or "23" row, default ""
        ("2309909000", "0.13"),  # animal feed, chapter 23: the default
        ("0303140000", "0.09"),  # chapter 03 fish
        ("7208100000", "0"),  # chapter 72 steel
        ("8517130000", "0.13"),  # phones: default
    ],
)
def test_refund_rate_is_the_longest_matching_prefix_on_the_shipped_table(
    hs_code: str, rate: str
) -> None:
    assert REF.refund.rate(hs_code) == D(rate)


def test_longest_prefix_wins_over_shorter_ones_on_a_hand_built_table() -> None:
    table = RateTable.from_json({"": "0.13", "23": "0.09", "2304": "0.06", "23040010": "0"})
    assert table.rate("2304001000") == D("0")  # 8 digits beat 4, 2 and ""
    assert table.rate("2304002000") == D("0.06")  # 4 digits
    assert table.rate("2309000000") == D("0.09")  # 2 digits
    assert table.rate("8517130000") == D("0.13")  # only the default matches


def test_zero_rate_on_a_longer_prefix_is_not_skipped_as_falsy() -> None:
    table = RateTable.from_json({"": "0.13", "2304": "0"})
    assert table.rate("2304001000") == D("0")


def test_table_without_a_default_gives_zero() -> None:
    assert RateTable.from_json({"85": "0.13"}).rate("3303000000") == D("0")


def test_import_rates_on_the_shipped_tables() -> None:
    assert REF.duty.rate("8703231990") == D("0.15")  # "8703" beats the "" 0.08
    assert REF.consumption.rate("8703231990") == D("0.05")
    assert REF.duty.rate("8517130000") == D("0")  # chapter 85
    assert REF.vat.rate("1201900000") == D("0.09")  # soybeans, chapter 12
    assert REF.vat.rate("3303000000") == D("0.13")


# --- export refund -------------------------------------------------------------------------------


def test_refund_on_smartphones_is_thirteen_percent_of_the_cny_value() -> None:
    """CNY 85,200.00 × 13% = 11,076.00."""
    paid = _paid(("8517130000", "85200.00"))
    assert paid.refund.amount == D("11076.00")
    assert paid.refund.base == D("85200.00")
    assert paid.refund.rate == D("0.1300")
    assert [e.amount for e in paid.lines] == [D("11076.00")]
    assert paid.lines[0].rate == D("0.13")
    assert "HS 8517130000" in paid.lines[0].formula


def test_refund_on_chapter_23_feed_falls_back_to_the_default_rate() -> None:
    """Animal feed 2309909000: no 23 row, default 13%; CNY 10,000.00 × 13% = 1,300.00."""
    assert _paid(("2309909000", "10000.00")).refund.amount == D("1300.00")


def test_refund_on_wood_is_nine_percent() -> None:
    """Logs 4403110000, chapter 44 at 9%: CNY 30,000.00 × 9% = 2,700.00."""
    assert _paid(("4403110000", "30000.00")).refund.amount == D("2700.00")


def test_refund_is_computed_per_line_and_summed() -> None:
    """fish 0303140000  20,000.00 × 9%  = 1,800.00
    steel 7208100000 50,000.00 × 0%  =     0.00
    phones 8517130000 10,000.00 × 13% = 1,300.00
    total 3,100.00 on a base of 80,000.00; effective 3,100 / 80,000 = 0.03875 → 0.0388.
    """
    paid = _paid(("0303140000", "20000.00"), ("7208100000", "50000.00"), ("8517130000", "10000.00"))
    assert [e.amount for e in paid.lines] == [D("1800.00"), D("0.00"), D("1300.00")]
    assert [e.rate for e in paid.lines] == [D("0.09"), D("0"), D("0.13")]
    assert paid.refund.amount == D("3100.00")
    assert paid.refund.base == D("80000.00")
    assert paid.refund.rate == D("0.0388")


def test_each_line_refund_is_rounded_half_up_to_the_fen() -> None:
    """1,234.57 × 13% = 160.4941 → 160.49
    0.50 × 9% = 0.045 → 0.05 (half up; banker's rounding would give 0.04)
    total 160.54.
    """
    paid = _paid(("8517130000", "1234.57"), ("0303140000", "0.50"))
    assert [e.amount for e in paid.lines] == [D("160.49"), D("0.05")]
    assert paid.refund.amount == D("160.54")


@pytest.mark.parametrize(
    "lines_",
    [
        [("2304001000", "50000.00")],  # soybean meal only
        [("2304001000", "50000.00"), ("2701120000", "8000.00"), ("7208100000", "1.00")],
    ],
)
def test_all_zero_rate_lines_are_denied_t202(lines_: list[tuple[str, str]]) -> None:
    """50,000.00 × 0% + 8,000.00 × 0% + 1.00 × 0% = 0.00 → nothing to refund."""
    result = export_refund([line(h, v) for h, v in lines_], scenario=None, ref=REF)
    assert isinstance(result, RefundDenied)
    assert result.reason_code == "T202"
    assert result.reason_zh == "商品出口退税率为零"


def test_refund_denied_scenario_is_denied_t201_even_on_refundable_lines() -> None:
    result = export_refund(
        [line("8517130000", "85200.00")], scenario=Scenario.REFUND_DENIED, ref=REF
    )
    assert isinstance(result, RefundDenied)
    assert result.reason_code == "T201"
    assert "invoice" in result.reason


@pytest.mark.parametrize("scenario", [Scenario.HAPPY, Scenario.RED_CHANNEL, None])
def test_other_scenarios_do_not_change_the_refund(scenario: Scenario | None) -> None:
    """CNY 1,000.00 × 13% = 130.00."""
    result = export_refund([line("8517130000", "1000.00")], scenario=scenario, ref=REF)
    assert isinstance(result, RefundPaid)
    assert result.refund.amount == D("130.00")


# --- import taxes --------------------------------------------------------------------------------


def test_import_of_perfume_pays_duty_consumption_tax_and_vat() -> None:
    """CNY 1,000.00 perfume 3303000000:
    duty 5% (chapter 33)           = 1,000 × 0.05                      =  50.00
    CT 15% (3303)                  = (1,000 + 50) / (1 − 0.15) × 0.15  = 185.2941 → 185.29
    VAT 13% (default)              = (1,000 + 50 + 185.29) × 0.13      = 160.5877 → 160.59
    total                          = 50.00 + 185.29 + 160.59           = 395.88
    """
    taxes = _taxes(("3303000000", "1000.00"))
    assert taxes.duty.amount == D("50.00")
    assert taxes.consumption_tax.amount == D("185.29")
    assert taxes.vat.amount == D("160.59")
    assert taxes.total == D("395.88")
    # What each figure was computed from.
    assert (taxes.duty.base, taxes.duty.rate) == (D("1000.00"), D("0.0500"))
    assert taxes.consumption_tax.base == D("1050.00")
    assert taxes.consumption_tax.rate == D("0.1500")  # 185.29 / 1,235.29 = 0.149997…
    assert (taxes.vat.base, taxes.vat.rate) == (D("1235.29"), D("0.1300"))


def test_import_of_a_car_uses_the_four_digit_8703_rates() -> None:
    """CNY 200,000.00 car 8703231990 (duty 15%, CT 5%, VAT 13%):
    duty = 200,000 × 0.15                          = 30,000.00
    CT   = (200,000 + 30,000) / 0.95 × 0.05        = 12,105.263… → 12,105.26
    VAT  = (200,000 + 30,000 + 12,105.26) × 0.13   = 31,473.6838 → 31,473.68
    total = 30,000.00 + 12,105.26 + 31,473.68      = 73,578.94
    """
    taxes = _taxes(("8703231990", "200000.00"))
    assert (taxes.duty.amount, taxes.consumption_tax.amount, taxes.vat.amount) == (
        D("30000.00"),
        D("12105.26"),
        D("31473.68"),
    )
    assert taxes.total == D("73578.94")


def test_import_of_wine_uses_chapter_22_duty_and_2204_consumption_tax() -> None:
    """CNY 500.00 wine 2204210000 (duty 14% for 22, CT 10% for 2204, VAT 13%):
    duty = 500 × 0.14                     = 70.00
    CT   = (500 + 70) / 0.90 × 0.10       = 63.333… → 63.33
    VAT  = (500 + 70 + 63.33) × 0.13      = 82.3329 → 82.33
    total = 70.00 + 63.33 + 82.33         = 215.66
    """
    taxes = _taxes(("2204210000", "500.00"))
    assert (taxes.duty.amount, taxes.consumption_tax.amount, taxes.vat.amount) == (
        D("70.00"),
        D("63.33"),
        D("82.33"),
    )
    assert taxes.total == D("215.66")


def test_import_of_cigarettes_rounds_vat_half_up() -> None:
    """CNY 1,000.00 cigarettes 2402200000 (duty 8% default, CT 36% for 24, VAT 13%):
    duty = 1,000 × 0.08                    =  80.00
    CT   = (1,000 + 80) / 0.64 × 0.36      = 1,687.5 × 0.36 = 607.50
    VAT  = (1,000 + 80 + 607.50) × 0.13    = 219.375 → 219.38 (half up)
    total = 80.00 + 607.50 + 219.38        = 906.88
    """
    taxes = _taxes(("2402200000", "1000.00"))
    assert (taxes.duty.amount, taxes.consumption_tax.amount, taxes.vat.amount) == (
        D("80.00"),
        D("607.50"),
        D("219.38"),
    )
    assert taxes.total == D("906.88")


def test_import_of_phones_pays_vat_only() -> None:
    """CNY 10,000.00 phones 8517130000: duty 0% (chapter 85), no CT; VAT 10,000 × 0.13 = 1,300.00."""
    taxes = _taxes(("8517130000", "10000.00"))
    assert taxes.duty.amount == D("0.00")
    assert taxes.consumption_tax.amount == D("0")
    assert taxes.vat.amount == D("1300.00")
    assert taxes.total == D("1300.00")


def test_import_of_soybeans_pays_nine_percent_vat() -> None:
    """CNY 100,000.00 soybeans 1201900000: duty 8% = 8,000.00; no CT;
    VAT 9% (chapter 12) = (100,000 + 8,000) × 0.09 = 9,720.00; total 17,720.00.
    """
    taxes = _taxes(("1201900000", "100000.00"))
    assert (taxes.duty.amount, taxes.vat.amount, taxes.total) == (
        D("8000.00"),
        D("9720.00"),
        D("17720.00"),
    )


def test_import_taxes_are_summed_over_the_lines() -> None:
    """perfume 1,000.00 (50.00 / 185.29 / 160.59) + wine 500.00 (70.00 / 63.33 / 82.33):
    duty 120.00; CT 248.62; VAT 242.92; total 611.54.
    VAT base = 1,500 + 120.00 + 248.62 = 1,868.62; CT base = 1,500 + 120.00 = 1,620.00.
    """
    taxes = _taxes(("3303000000", "1000.00"), ("2204210000", "500.00"))
    assert (taxes.duty.amount, taxes.consumption_tax.amount, taxes.vat.amount) == (
        D("120.00"),
        D("248.62"),
        D("242.92"),
    )
    assert taxes.total == D("611.54")
    assert taxes.duty.base == D("1500.00")
    assert taxes.consumption_tax.base == D("1620.00")
    assert taxes.vat.base == D("1868.62")


def test_consumption_tax_formula_on_a_hand_built_reference() -> None:
    """duty 10%, CT 20%, VAT 13% on CNY 800.00:
    duty = 800 × 0.10                 =  80.00
    CT   = (800 + 80) / 0.80 × 0.20   = 1,100 × 0.20 = 220.00
    VAT  = (800 + 80 + 220) × 0.13    = 1,100 × 0.13 = 143.00
    total = 443.00
    """
    ref = TaxReference(
        refund=RateTable.from_json({}),
        duty=RateTable.from_json({"": "0.10"}),
        consumption=RateTable.from_json({"": "0.20"}),
        vat=RateTable.from_json({"": "0.13"}),
    )
    taxes = _taxes(("9999999999", "800.00"), ref=ref)
    assert (taxes.duty.amount, taxes.consumption_tax.amount, taxes.vat.amount) == (
        D("80.00"),
        D("220.00"),
        D("143.00"),
    )
    assert taxes.total == D("443.00")
    assert taxes.consumption_tax.rate == D("0.2000")  # 220 / 1,100


def test_no_lines_means_no_taxes() -> None:
    taxes = _taxes()
    assert taxes.total == D("0")
    assert taxes.duty.rate == D("0")
