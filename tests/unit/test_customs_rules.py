"""Customs decisions: tariff checks, three-document match, channels, receipts, identifiers."""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.codes import make_uscc
from schemas.messages import DeclarationAccepted, DeclarationRejected
from schemas.trade import (
    CbecDocuments,
    DeclarationData,
    Direction,
    Filing,
    Party,
    Scenario,
    TaxFiling,
    TradeMode,
)
from schemas.units import to_fen
from services.customs.reference import CustomsReference
from services.customs.reference import load_reference as customs_reference
from services.customs.rules import (
    channel,
    check,
    detention_status,
    document_of,
    entry_id,
    inspection_reason,
    invt_no,
    pre_no,
    review,
    risk_odds,
    summarise,
)
from tests.unit.builders import (
    CBEC_IMPORT_MODES,
    DEMO_USCC,
    EXPORT_MODES,
    FixedDraw,
    declaration,
    item,
)

REF = customs_reference()
WHEN = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)  # 16:30 in Beijing
D = Decimal
AEO = "91440300MA5DAE000L"  # listed with an enterprise factor of 0.2


def _accepted(decl: DeclarationData, rng: random.Random | None = None) -> DeclarationAccepted:
    decision = review(decl, declaration_id="d-1", ref=REF, rng=rng or FixedDraw(0.5), when=WHEN)
    assert isinstance(decision, DeclarationAccepted), decision
    return decision


def _rejected(decl: DeclarationData, ref: CustomsReference = REF) -> DeclarationRejected:
    decision = check(decl, ref)
    assert isinstance(decision, DeclarationRejected), decision
    assert decision.reason and decision.reason_zh and decision.rule  # English, Chinese, rule
    return decision


def _retail(*items_: object, mode: TradeMode, **extra: object) -> DeclarationData:
    return declaration(
        *items_,  # type: ignore[arg-type]
        direction=Direction.IMPORT,
        trade_mode=mode,
        currency="CNY",
        counterparty="AUS",
        **extra,
    )


def _docs(**change: object) -> CbecDocuments:
    """Matching documents for CNY 3,000.00 of goods, freight 20.00, tax 273.00 → 3,293.00."""
    base: dict[str, object] = {
        "order_no": "ORD-1",
        "buyer_id_number": "350102199001011234",
        "buyer_name": "张三",
        "freight": D("20.00"),
        "tax": D("273.00"),
        "actual_paid": D("3293.00"),
        "payment_no": "PAY-1",
        "payer_id_number": "350102199001011234",
        "amount_paid": D("3293.00"),
        "waybill_no": "WB-1",
        "consignee_name": "张三",
    }
    return CbecDocuments.model_validate(base | change)


# --- the shipped tariff ----------------------------------------------------------------------


def test_shipped_tariff_has_hundreds_of_real_ten_digit_lines_across_chapters() -> None:
    assert len(REF.tariff) >= 300
    assert len({code[:2] for code in REF.tariff}) >= 60
    for code, line in REF.tariff.items():
        assert re.fullmatch(r"\d{10}", code)
        assert line.vat in (D("0.13"), D("0.09"))
        assert line.export_refund in (D("0.13"), D("0.10"), D("0.09"), D("0.06"), D("0"))
        assert set(line.inspection) <= set("MNPQRSL")


def test_tariff_lines_carry_their_rates_and_conditions() -> None:
    phones, perfume = REF.tariff["8517130000"], REF.tariff["3303000000"]
    assert (phones.duty, phones.vat, phones.export_refund, phones.supervision) == (
        D("0"),
        D("0.13"),
        D("0.13"),
        "",
    )
    assert (perfume.duty, perfume.consumption_tax, perfume.supervision, perfume.inspection) == (
        D("0.03"),
        D("0.15"),
        "AB",
        "MN",
    )
    assert REF.tariff["2304009000"].export_refund == 0  # soybean meal: refund cancelled


# --- worked valuations ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", EXPORT_MODES)
def test_export_of_smartphones_is_valued_at_the_customs_rate_in_every_export_mode(
    mode: TradeMode,
) -> None:
    """100 phones × USD 120.00 = USD 12,000.00; × 7.1000 = CNY 85,200.00 (refund rate 13%)."""
    decision = _accepted(declaration(item("8517130000", "100", "120.00"), trade_mode=mode))
    assert decision.fx_rate == D("7.1000")
    assert [line.value_cny for line in decision.lines] == [D("85200.00")]
    assert decision.total_value_cny == D("85200.00")
    assert decision.lines[0].refund_rate == D("0.13")
    assert decision.lines[0].name == "智能手机"


def test_import_of_perfume_carries_its_duty_and_consumption_tax_rates() -> None:
    """10 bottles × EUR 50.00 = EUR 500.00; × 7.7000 = CNY 3,850.00; duty 3%, CT 15%."""
    decision = _accepted(
        declaration(
            item("3303000000", "10", "50.00", origin="FRA"),
            direction=Direction.IMPORT,
            currency="EUR",
            counterparty="FRA",
        )
    )
    assert decision.total_value_cny == D("3850.00")
    (line,) = decision.lines
    assert (line.duty_rate, line.consumption_tax_rate, line.vat_rate) == (
        D("0.03"),
        D("0.15"),
        D("0.13"),
    )


def test_each_line_is_rounded_to_the_fen_half_up_before_the_total() -> None:
    """JPY at 0.0480: 1,234 × 0.0480 = 59.232 → 59.23; 10.3125 × 0.0480 = 0.495 → 0.50;
    total 59.73. HKD 1.50 × 0.9100 = 1.365 → 1.37 (half up, not to even)."""
    decision = _accepted(
        declaration(
            item("8517130000", "1234", "1"), item("8471300000", "1", "10.3125"), currency="JPY"
        )
    )
    assert [line.value_cny for line in decision.lines] == [D("59.23"), D("0.50")]
    assert decision.total_value_cny == D("59.73")
    assert to_fen(D("1.365")) == D("1.37")


# --- rejections: field, rule and code, in English and Chinese ----------------------------------


def test_hs_code_not_in_the_tariff_is_rejected_c102_naming_the_line() -> None:
    rejected = _rejected(declaration(item("8517130000"), item("8517999999")))
    assert (rejected.reason_code, rejected.field, rejected.rule) == (
        "C102",
        "items[1].hs_code",
        "tariff.hs_code",
    )
    assert rejected.reason_zh == "商品编码8517999999不在海关税则中"


def test_licence_line_is_rejected_c101_unless_a_licence_is_declared() -> None:
    """Pistols 9302000000 carry supervision conditions 1 and 4: an export needs licence 4."""
    rejected = _rejected(declaration(item("8517130000"), item("9302000000")))
    assert (rejected.reason_code, rejected.field) == ("C101", "items[1].hs_code")
    assert "licence" in rejected.reason and "4" in rejected.reason
    assert "许可证" in rejected.reason_zh
    assert check(declaration(item("9302000000", licence_no="L-2025-001")), REF) is None


def test_prohibited_import_is_rejected_c105() -> None:
    """Worn clothing 6309000000, supervision 8 and 9: import prohibited."""
    rejected = _rejected(declaration(item("6309000000"), direction=Direction.IMPORT))
    assert (rejected.reason_code, rejected.rule) == ("C105", "tariff.supervision.prohibited")
    assert rejected.reason_zh.endswith("禁止进口")


def test_every_invalid_field_is_listed_with_its_own_code() -> None:
    """Line 0 unknown, line 1 needs a licence, line 2 prohibited on import, total value 0."""
    rejected = _rejected(
        declaration(
            item("8517999999", "1", "0"),
            item("9302000000", "1", "0"),
            item("6309000000", "1", "0"),
            direction=Direction.IMPORT,
        )
    )
    assert [(e.code, e.field) for e in rejected.errors] == [
        ("C102", "items[0].hs_code"),
        ("C101", "items[1].hs_code"),
        ("C105", "items[2].hs_code"),
        ("C103", "items"),
    ]
    assert (rejected.reason_code, rejected.field) == ("C102", "items[0].hs_code")
    assert all(e.reason and e.reason_zh and e.rule for e in rejected.errors)


def test_several_document_mismatches_are_all_reported() -> None:
    docs = _docs(amount_paid=D("1.00"), consignee_name="李四")
    rejected = _rejected(
        _retail(item("1901101000", "1", "3000"), mode=TradeMode.CBEC_RETAIL, cbec=docs)
    )
    assert [e.code for e in rejected.errors] == ["C301", "C302"]


def test_zero_value_currency_and_scenario_rejections() -> None:
    assert _rejected(declaration(item("8517130000", "2", "0"))).reason_code == "C103"
    small = replace(REF, exchange_rates={"CNY": D(1)})
    assert _rejected(declaration(currency="EUR"), small).field == "currency"
    b2b = declaration(currency="EUR", trade_mode=TradeMode.CBEC_B2B_WAREHOUSE)
    decision = review(b2b, declaration_id="d-1", ref=small, rng=FixedDraw(0.5), when=WHEN)
    assert isinstance(decision, DeclarationRejected) and decision.reason_code == "C104"
    forced = _rejected(declaration(scenario=Scenario.CUSTOMS_REJECT))
    assert (forced.reason_code, forced.field) == ("C199", "scenario")


@pytest.mark.parametrize("mode", CBEC_IMPORT_MODES)
def test_retail_import_off_the_positive_list_is_rejected_c106(mode: TradeMode) -> None:
    """Cigarettes 2402200000 are not on the CBEC retail import positive list."""
    rejected = _rejected(_retail(item("2402200000", "1", "300"), mode=mode))
    assert (rejected.reason_code, rejected.field) == ("C106", "items[0].hs_code")


@pytest.mark.parametrize("mode", CBEC_IMPORT_MODES)
def test_divisible_retail_order_over_five_thousand_is_rejected_c107(mode: TradeMode) -> None:
    """2 tins × CNY 3,000.00 = 6,000.00 > 5,000; one indivisible CNY 6,000.00 bag passes."""
    rejected = _rejected(_retail(item("1901101000", "2", "3000"), mode=mode))
    assert (rejected.reason_code, rejected.field) == ("C107", "items")
    assert check(_retail(item("4202210000", "1", "6000"), mode=mode), REF) is None


@pytest.mark.parametrize("mode", CBEC_IMPORT_MODES)
@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"amount_paid": D("3290.00")}, "C301", "cbec.amount_paid"),
        ({"consignee_name": "李四"}, "C302", "cbec.consignee_name"),
        ({"actual_paid": D("3000.00"), "amount_paid": D("3000.00")}, "C303", "cbec.actual_paid"),
        ({"payer_id_number": "350102199001019999"}, "C304", "cbec.payer_id_number"),
    ],
)
def test_three_documents_that_do_not_match_are_rejected(
    mode: TradeMode, change: dict[str, object], code: str, field: str
) -> None:
    """Goods 3,000.00 + freight 20.00 + tax 273.00 = acturalPaid 3,293.00 = amountPaid."""
    assert check(_retail(item("1901101000", "1", "3000"), mode=mode, cbec=_docs()), REF) is None
    rejected = _rejected(_retail(item("1901101000", "1", "3000"), mode=mode, cbec=_docs(**change)))
    assert (rejected.reason_code, rejected.field) == (code, field)


def test_b2b_list_over_five_thousand_is_rejected_c109_naming_filing() -> None:
    """100 × USD 120.00 × 7.1000 = CNY 85,200.00 > 5,000: a list is not allowed."""
    decl = declaration(
        item("8517130000", "100", "120.00"),
        trade_mode=TradeMode.CBEC_B2B_DIRECT,
        filing=Filing.LIST,
    )
    rejected = _rejected(decl)
    assert (rejected.reason_code, rejected.field) == ("C109", "filing")


# --- documents and receipts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decl", "document"),
    [
        (declaration(), "报关单"),
        (declaration(trade_mode=TradeMode.CBEC_RETAIL), "CEB603"),
        (_retail(item("1901101000"), mode=TradeMode.CBEC_BONDED), "CEB621"),
        # 5 × USD 120 × 7.1 = CNY 4,260.00 ≤ 5,000, no licence, no inspection: a list.
        (
            declaration(item("8517130000", "5", "120"), trade_mode=TradeMode.CBEC_B2B_DIRECT),
            "CEB603",
        ),
        (
            declaration(item("8517130000", "100", "120"), trade_mode=TradeMode.CBEC_B2B_WAREHOUSE),
            "报关单",
        ),
        (
            declaration(
                item("8517130000", "5", "120"),
                trade_mode=TradeMode.CBEC_B2B_DIRECT,
                filing=Filing.DECLARATION,
            ),
            "报关单",
        ),
    ],
)
def test_each_mode_is_declared_on_its_document(decl: DeclarationData, document: str) -> None:
    assert document_of(decl, REF) == document


def test_green_declaration_receipts_run_2_120_399() -> None:
    """Minutes: declared 0, accepted 0 + 1 = 1, audit concluded 1 + 2 = 3."""
    decision = _accepted(declaration())
    assert [(r.message, r.status, r.minutes) for r in decision.receipts] == [
        ("报关单", "2", D(0)),
        ("报关单", "120", D(1)),
        ("报关单", "399", D(3)),
    ]
    assert decision.status_code == "399"
    assert (
        decision.receipts[1].info == "[Code:120;Desc:入库成功 accepted into the customs database]"
    )


def test_yellow_channel_adds_manual_review_300() -> None:
    """Draw 0.05: not < red 0.03, < 0.03 + yellow 0.10. Review 30 min: 300 at 31, 399 at 33."""
    decision = _accepted(declaration(trade_mode=TradeMode.CBEC_RETAIL), FixedDraw(0.05))
    assert decision.channel == "yellow"
    assert [(r.message, r.status, r.minutes) for r in decision.receipts] == [
        ("CEB304", "120", D(0)),
        ("CEB404", "120", D(0)),
        ("CEB506", "120", D(0)),
        ("CEB604", "2", D(0)),
        ("CEB604", "120", D(1)),
        ("CEB604", "300", D(31)),
        ("CEB604", "399", D(33)),
    ]


def test_red_channel_ends_in_physical_inspection_500() -> None:
    decision = _accepted(declaration(scenario=Scenario.RED_CHANNEL))
    assert decision.channel == "red" and decision.inspection_required
    assert [r.status for r in decision.receipts] == ["2", "120", "300", "399", "500"]
    assert decision.status_code == "500"


@pytest.mark.parametrize("mode", CBEC_IMPORT_MODES)
def test_retail_import_receipts_show_the_three_documents_before_the_list(mode: TradeMode) -> None:
    decision = _accepted(_retail(item("1901101000", "1", "3000"), mode=mode, cbec=_docs()))
    assert [r.message for r in decision.receipts] == [
        "CEB312",
        "CEB412",
        "CEB512",
        "CEB622",
        "CEB622",
        "CEB622",
    ]
    assert decision.document == "CEB621"
    assert decision.invt_no is not None and decision.invt_no[8] == "I"


@pytest.mark.parametrize(
    ("mode", "before"),
    [
        (TradeMode.CBEC_B2B_DIRECT, ["CEB304", "CEB506"]),
        (TradeMode.CBEC_B2B_WAREHOUSE, ["订仓单", "CEB506"]),
        (TradeMode.GENERAL, []),
    ],
)
def test_supporting_documents_are_received_before_the_declaration(
    mode: TradeMode, before: list[str]
) -> None:
    """9710 files the order and waybill, 9810 the booking note and waybill (D§1.4)."""
    decision = _accepted(declaration(item("8517130000", "5", "120"), trade_mode=mode))
    messages = [r.message for r in decision.receipts]
    assert messages[: len(before)] == before
    assert messages[len(before)] in ("CEB604", "报关单")


def test_blue_channel_releases_with_a_post_clearance_audit() -> None:
    """Draw 0.14: past red + yellow = 0.13, below + blue 0.02 = 0.15."""
    decision = _accepted(declaration(), FixedDraw(0.14))
    assert (decision.channel, decision.post_clearance_audit) == ("blue", True)
    assert not decision.inspection_required


# --- the risk channel ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("draw", "expected"),
    [
        (0.0, "red"),
        (0.0299, "red"),  # < red 0.03
        (0.03, "yellow"),  # < 0.03 + 0.10 = 0.13
        (0.1299, "yellow"),
        (0.13, "blue"),  # < 0.13 + 0.02 = 0.15
        (0.15, "green"),
        (0.9999, "green"),
    ],
)
def test_channel_draw_is_compared_with_the_cumulative_rates(draw: float, expected: str) -> None:
    assert channel(declaration(), REF, FixedDraw(draw)) == expected


def test_risky_chapter_and_origin_raise_the_odds_and_a_good_record_lowers_them() -> None:
    """Base red 0.03, yellow 0.10.
    Jewellery (chapter 71 ×3): red 0.09, yellow 0.30.
    Jewellery from NGA (×2): factor 6 → red 0.18, yellow 0.60 capped at 0.50.
    Phones from an AEO enterprise (×0.2): red 0.006, yellow 0.020.
    """
    red, yellow, blue, factor, _ = risk_odds(declaration(item("7117190000")), REF)
    assert (red, yellow, blue, factor) == (D("0.09"), D("0.30"), D("0.02"), D(3))
    red, yellow, _, factor, _ = risk_odds(declaration(item("7117190000", origin="NGA")), REF)
    assert (red, yellow, factor) == (D("0.18"), D("0.50"), D(6))
    red, yellow, _, _, why = risk_odds(declaration(uscc=AEO), REF)
    assert (red, yellow) == (D("0.006"), D("0.020"))
    assert "enterprise record ×0.2" in why


def test_channel_distribution_over_many_seeds_follows_the_rates() -> None:
    """10,000 seeds: red ≈ 300 ± 17, yellow ≈ 1,000 ± 30, blue ≈ 200 ± 14 (bands ≥ ± 4σ)."""
    decl = declaration()
    counts = Counter(channel(decl, REF, random.Random(seed)) for seed in range(10_000))
    assert 220 <= counts["red"] <= 380
    assert 850 <= counts["yellow"] <= 1150
    assert 130 <= counts["blue"] <= 270


def test_scenarios_force_the_channel() -> None:
    assert channel(declaration(scenario=Scenario.INSPECTION_FAIL), REF, FixedDraw(0.9)) == "red"
    assert channel(declaration(scenario=Scenario.HAPPY), REF, FixedDraw(0.0)) == "green"


# --- inspection ------------------------------------------------------------------------------


def test_catalogue_import_needs_entry_inspection_condition_a() -> None:
    """Perfume 3303000000: supervision AB, categories MN; on import A and M apply."""
    reason = inspection_reason(
        declaration(item("3303000000"), direction=Direction.IMPORT), REF, "green"
    )
    assert reason == "statutory inspection: HS 3303000000 (condition A, category M)"


@pytest.mark.parametrize("mode", EXPORT_MODES)
def test_catalogue_export_needs_exit_inspection_condition_b(mode: TradeMode) -> None:
    """Toys 9503008900: supervision B, category N."""
    reason = inspection_reason(declaration(item("9503008900"), trade_mode=mode), REF, "green")
    assert reason == "statutory inspection: HS 9503008900 (condition B, category N)"


def test_non_catalogue_goods_are_sampled_at_the_configured_rate() -> None:
    """Sampling rate 0.02: a draw of 0.01 is checked, 0.5 is not; red always is."""
    decl = declaration()
    reason = inspection_reason(decl, REF, "green", FixedDraw(0.01))
    assert reason is not None and reason.startswith("random check")
    assert inspection_reason(decl, REF, "green", FixedDraw(0.5)) is None
    red = inspection_reason(decl, REF, "red", FixedDraw(0.5))
    assert red is not None and red.startswith("red channel")


def test_retail_imports_are_not_held_to_the_catalogue() -> None:
    """Milk powder 1901101000 carries A and R, but retail imports are personal articles."""
    decl = _retail(item("1901101000", "1", "3000"), mode=TradeMode.CBEC_BONDED)
    assert inspection_reason(decl, REF, "green", FixedDraw(0.5)) is None


def test_detention_status_follows_the_failure_reason() -> None:
    assert detention_status("I301", REF) == "501"  # labelling: handed to clearance
    assert detention_status("I303", REF) == "599"  # quarantine pest: other
    assert detention_status("I999", REF) == "599"


# --- identifiers ---------------------------------------------------------------------------------


def test_entry_id_is_district_beijing_year_flag_and_nine_digits() -> None:
    export = entry_id("5316", WHEN, Direction.EXPORT, "d-1")
    assert re.fullmatch(r"531620250\d{9}", export)
    assert entry_id("5316", WHEN, Direction.IMPORT, "d-1") == export[:8] + "1" + export[9:]
    assert entry_id("5316", WHEN, Direction.EXPORT, "d-2") != export


def test_entry_id_year_is_the_beijing_calendar_year() -> None:
    """2025-12-31 17:00 UTC = 2026-01-01 01:00 Beijing (UTC+8): the 报关单 year is 2026."""
    assert entry_id("5316", datetime(2025, 12, 31, 17, tzinfo=UTC), Direction.EXPORT, "d")[4:8] == (
        "2026"
    )


def test_inventory_and_pre_entry_numbers_have_the_ceb_formats() -> None:
    assert re.fullmatch(r"53162025E\d{9}", invt_no("5316", WHEN, Direction.EXPORT, "d-1"))
    assert re.fullmatch(r"B20250301\d{9}", pre_no(WHEN, "d-1"))


def test_counted_serials_give_each_declaration_its_own_number() -> None:
    """The handler counts serials per district, year and I/E (records in customs' database):
    serial n is the last 9 digits, so 100,000 declarations get 100,000 numbers. Without a
    serial (pure tests) the digits are a hash of the declaration id."""
    ids = {entry_id("5316", WHEN, Direction.EXPORT, f"d-{n}", n) for n in range(1, 100_001)}
    assert len(ids) == 100_000
    assert entry_id("5316", WHEN, Direction.EXPORT, "d", 42) == "531620250000000042"
    assert invt_no("5316", WHEN, Direction.IMPORT, "d", 7) == "53162025I000000007"
    assert pre_no(WHEN, "d", 7) == "B20250301000000007"


def test_monthly_summary_covers_the_calendar_month_in_beijing() -> None:
    """Lines 85,200.00 + 1,000.00 = 86,200.00, summarised for March 2025."""
    lines = _accepted(
        declaration(item("8517130000", "100", "120"), item("8517130000", "1", "140.845"))
    ).lines
    summary = summarise(
        declaration_id="d-1", ebc_uscc="91350100M000100Y43", lines=lines, ref=REF, when=WHEN
    )
    assert (summary.period_start, summary.period_end) == ("2025-03-01", "2025-03-31")
    assert summary.total_value_cny == D("86200.00")  # 140.845 × 7.1 = 999.9995 → 1,000.00
    assert re.fullmatch(r"5316202503\d{9}", summary.sum_no)
    assert summary.entry_id[8] == "0"
    assert [r.message for r in summary.receipts] == ["CEB702", "CEB702", "CEB792"]
    assert (summary.lists_in_summary, summary.summary_value_cny) == (1, D("86200.00"))


def test_an_enterprises_lists_of_one_month_share_one_summary() -> None:
    """Two lists of one enterprise in March 2025 (1,000.00 then 86,200.00): one sum_no, one
    报关单; the second makes 2 lists worth 87,200.00. Another enterprise, or April, differs."""
    lines = _accepted(declaration(item("8517130000", "1", "140.845"))).lines

    def of(uscc: str, when: datetime, so_far: dict[str, Decimal] | None = None) -> Any:
        return summarise(
            declaration_id="d-2",
            ebc_uscc=uscc,
            lines=lines,
            ref=REF,
            when=when,
            month_so_far=so_far,
        )

    first = of(DEMO_USCC, WHEN)
    second = of(DEMO_USCC, WHEN + timedelta(days=3), {"d-1": D("86200.00")})
    assert (second.sum_no, second.entry_id) == (first.sum_no, first.entry_id)
    assert (second.lists_in_summary, second.summary_value_cny) == (2, D("87200.00"))
    assert second.total_value_cny == D("1000.00")  # this list's own value
    other = of(make_uscc("9144030000000001"), WHEN)
    april = of(DEMO_USCC, WHEN + timedelta(days=40))
    assert len({first.sum_no, other.sum_no, april.sum_no}) == 3


def test_9610_list_is_simplified_only_without_licence_or_refund() -> None:
    """Phones carry a 13% refund: summarised (B); without an invoice (no refund): simplified (A)."""
    decl = declaration(trade_mode=TradeMode.CBEC_RETAIL)
    assert _accepted(decl).statistics_flag == "B"
    no_refund = decl.model_copy(update={"tax_filing": TaxFiling(no_purchase_invoice=True)})
    assert _accepted(no_refund).statistics_flag == "A"
    assert _accepted(declaration()).statistics_flag is None  # 0110: a 报关单, no flag


@pytest.mark.parametrize("code", ["3301961Q43", "440316T004", "5316260001"])
def test_customs_codes_of_the_real_format_are_accepted(code: str) -> None:
    assert Party(uscc="91350100M000100Y43", name="x", customs_code=code).customs_code == code


@pytest.mark.parametrize("code", ["330196", "3301061Q43", "33019A1Q43", "3301901Q43"])
def test_customs_codes_of_another_format_are_refused(code: str) -> None:
    """Zone digit 0 or type digit 0, a letter in the location, or too short: refused."""
    with pytest.raises(ValidationError, match="10 characters"):
        Party(uscc="91350100M000100Y43", name="x", customs_code=code)
