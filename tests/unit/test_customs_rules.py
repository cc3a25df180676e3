"""Customs decisions: review, rejection codes, risk channel, entry number, CNY valuation."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from schemas.messages import DeclarationAccepted, DeclarationRejected
from schemas.trade import DeclarationData, Direction, Scenario, TradeMode
from services.customs.rules import (
    CustomsReference,
    channel,
    check,
    entry_id,
    inspection_reason,
    review,
    to_fen,
)
from tests.unit.builders import FixedDraw, declaration, item, shipped

REF = CustomsReference.from_json(shipped("customs"))
WHEN = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)
SMALL = CustomsReference(
    district="2200",
    red_rate=Decimal("0"),
    yellow_rate=Decimal("0"),
    exchange_rates={"CNY": Decimal("1"), "USD": Decimal("7.2")},
    inspection_chapters={"03": "R"},
    licence_chapters={},
    empty_chapters=frozenset(),
)


def _accepted(
    decl: DeclarationData, ref: CustomsReference = REF, seed: int = 1
) -> DeclarationAccepted:
    decision = review(
        decl,
        declaration_id="d-1",
        ref=ref,
        rng=random.Random(seed),
        when=WHEN,
    )
    assert isinstance(decision, DeclarationAccepted), decision
    return decision


def _rejected(decl: DeclarationData, ref: CustomsReference = REF) -> DeclarationRejected:
    decision = check(decl, ref)
    assert isinstance(decision, DeclarationRejected), decision
    return decision


# --- the shipped reference -----------------------------------------------------------------------


def test_shipped_reference_loads_with_decimal_rates() -> None:
    assert REF.district == "5316"
    assert (REF.red_rate, REF.yellow_rate) == (Decimal("0.05"), Decimal("0.10"))
    assert REF.exchange_rates["USD"] == Decimal("7.1000")
    assert REF.inspection_chapters["95"] == "N"
    assert "93" in REF.licence_chapters
    assert REF.empty_chapters == frozenset({"00", "77", "98", "99"})


# --- worked valuations ---------------------------------------------------------------------------


def test_export_of_smartphones_in_usd_is_valued_at_the_customs_rate() -> None:
    """100 phones × USD 120.00 = USD 12,000.00; × 7.1000 = CNY 85,200.00."""
    decision = _accepted(declaration(item("8517130000", "100", "120.00"), scenario=Scenario.HAPPY))
    assert decision.fx_rate == Decimal("7.1000")
    assert [line.value_cny for line in decision.lines] == [Decimal("85200.00")]
    assert decision.total_value_cny == Decimal("85200.00")
    assert decision.status_code == "120"


def test_import_of_perfume_in_eur_is_valued_at_the_customs_rate() -> None:
    """10 bottles × EUR 50.00 = EUR 500.00; × 7.7000 = CNY 3,850.00."""
    decision = _accepted(
        declaration(
            item("3303000000", "10", "50.00", origin="FRA"),
            direction=Direction.IMPORT,
            currency="EUR",
            counterparty="FRA",
            scenario=Scenario.HAPPY,
        )
    )
    assert decision.total_value_cny == Decimal("3850.00")


def test_each_line_is_rounded_to_the_fen_before_the_total_is_summed() -> None:
    """JPY at 0.0480:
    line 1: 1,234 × 0.0480 = 59.232   → 59.23
    line 2: 10.3125 × 0.0480 = 0.495  → 0.50 (half up)
    total = 59.23 + 0.50 = 59.73 (the unrounded sum 59.727 would also give 59.73, line 2
    shows the half-up rounding).
    """
    decision = _accepted(
        declaration(
            item("8517130000", "1234", "1"),
            item("8471300000", "1", "10.3125"),
            currency="JPY",
            scenario=Scenario.HAPPY,
        )
    )
    assert [line.value_cny for line in decision.lines] == [Decimal("59.23"), Decimal("0.50")]
    assert decision.total_value_cny == Decimal("59.73")


def test_valuation_rounds_half_up_not_to_even() -> None:
    """HKD 1.50 × 0.9100 = 1.365 → 1.37 half up (banker's rounding would give 1.36)."""
    decision = _accepted(declaration(item("8517130000", "1", "1.50"), currency="HKD"))
    assert decision.total_value_cny == Decimal("1.37")
    assert to_fen(Decimal("1.365")) == Decimal("1.37")
    assert to_fen(Decimal("1.364999")) == Decimal("1.36")


def test_gbp_line_close_to_a_whole_amount_rounds_up_to_it() -> None:
    """3 × GBP 33.3333 = 99.9999; × 9.0000 = 899.9991 → CNY 900.00."""
    decision = _accepted(declaration(item("6109100000", "3", "33.3333"), currency="GBP"))
    assert decision.total_value_cny == Decimal("900.00")


def test_cny_declaration_is_valued_at_par() -> None:
    """CNY 1,000.00 × 1 = 1,000.00."""
    decision = _accepted(declaration(item("3303000000", "4", "250"), currency="CNY"))
    assert decision.fx_rate == Decimal("1")
    assert decision.total_value_cny == Decimal("1000.00")


def test_small_hand_built_reference_is_used_for_rate_and_district() -> None:
    """250 × USD 4.00 = USD 1,000.00; × 7.2 = CNY 7,200.00; entry number starts with 2200."""
    decision = _accepted(declaration(item("8517130000", "250", "4.00")), ref=SMALL)
    assert decision.total_value_cny == Decimal("7200.00")
    assert decision.entry_id.startswith("22002025")
    assert decision.channel == "green"  # red and yellow rates are 0


# --- rejections ----------------------------------------------------------------------------------


def test_licence_chapter_is_rejected_c101_naming_the_line() -> None:
    """Chapter 93 (arms) needs a licence; it is the second line, items[1]."""
    rejected = _rejected(declaration(item("8517130000"), item("9302000000")))
    assert (rejected.reason_code, rejected.field) == ("C101", "items[1].hs_code")
    assert rejected.status_code == "100"
    assert "chapter 93" in rejected.reason and "licence" in rejected.reason
    assert rejected.reason_zh == "第93章商品须申领许可证"


@pytest.mark.parametrize("chapter", ["00", "77", "98", "99"])
def test_unused_tariff_chapter_is_rejected_c102_naming_the_line(chapter: str) -> None:
    rejected = _rejected(declaration(item(f"{chapter}01000000")))
    assert (rejected.reason_code, rejected.field) == ("C102", "items[0].hs_code")
    assert f"chapter {chapter}" in rejected.reason


def test_zero_total_value_is_rejected_c103_on_items() -> None:
    """2 × 0.00 + 5 × 0.00 = 0 → not positive."""
    rejected = _rejected(declaration(item("8517130000", "2", "0"), item("8471300000", "5", "0")))
    assert (rejected.reason_code, rejected.field) == ("C103", "items")


def test_currency_without_a_customs_rate_is_rejected_c104_on_currency() -> None:
    rejected = _rejected(declaration(currency="EUR"), ref=SMALL)
    assert (rejected.reason_code, rejected.field) == ("C104", "currency")
    assert "EUR" in rejected.reason and "EUR" in rejected.reason_zh


def test_customs_reject_scenario_is_rejected_c199_on_scenario() -> None:
    rejected = _rejected(declaration(scenario=Scenario.CUSTOMS_REJECT))
    assert (rejected.reason_code, rejected.field) == ("C199", "scenario")


def test_scenario_rejection_comes_before_every_other_rule() -> None:
    decl = declaration(
        item("9302000000", "1", "0"), currency="EUR", scenario=Scenario.CUSTOMS_REJECT
    )
    assert _rejected(decl, ref=SMALL).reason_code == "C199"


def test_unused_chapter_is_found_before_a_licence_chapter_on_a_later_line() -> None:
    rejected = _rejected(declaration(item("9901000000"), item("9302000000")))
    assert (rejected.reason_code, rejected.field) == ("C102", "items[0].hs_code")


def test_review_returns_the_rejection_instead_of_accepting() -> None:
    decision = review(
        declaration(item("9302000000")),
        declaration_id="d-1",
        ref=REF,
        rng=random.Random(1),
        when=WHEN,
    )
    assert isinstance(decision, DeclarationRejected)
    assert decision.reason_code == "C101"


def test_clean_declaration_passes_the_checks() -> None:
    assert check(declaration(), REF) is None


# --- the risk channel ----------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", [Scenario.RED_CHANNEL, Scenario.INSPECTION_FAIL])
def test_scenario_forces_the_red_channel(scenario: Scenario) -> None:
    for seed in range(50):
        assert channel(declaration(scenario=scenario), REF, random.Random(seed)) == "red"


def test_happy_scenario_forces_the_green_channel() -> None:
    for draw in (0.0, 0.07, 0.99):
        assert channel(declaration(scenario=Scenario.HAPPY), REF, FixedDraw(draw)) == "green"


@pytest.mark.parametrize(
    ("draw", "expected"),
    [
        (0.0, "red"),
        (0.0499, "red"),  # < red 0.05
        (0.05, "yellow"),  # not < 0.05, but < 0.05 + 0.10 = 0.15
        (0.1499, "yellow"),
        (0.15, "green"),  # not < 0.15
        (0.9999, "green"),
    ],
)
def test_channel_draw_is_compared_with_the_cumulative_rates(draw: float, expected: str) -> None:
    assert channel(declaration(), REF, FixedDraw(draw)) == expected


def test_refund_denied_scenario_does_not_force_a_channel() -> None:
    decl = declaration(scenario=Scenario.REFUND_DENIED)
    assert channel(decl, REF, FixedDraw(0.01)) == "red"
    assert channel(decl, REF, FixedDraw(0.5)) == "green"


def test_channel_is_deterministic_for_the_same_seed() -> None:
    decl = declaration()
    for seed in range(200):
        assert channel(decl, REF, random.Random(seed)) == channel(decl, REF, random.Random(seed))


def test_channel_distribution_over_many_seeds_follows_the_rates() -> None:
    """10,000 seeds: red ≈ 5% (500 ± 22), yellow ≈ 10% (1,000 ± 30); bands are ± 4σ or more."""
    decl = declaration()
    counts = Counter(channel(decl, REF, random.Random(seed)) for seed in range(10_000))
    assert 400 <= counts["red"] <= 600
    assert 850 <= counts["yellow"] <= 1150
    assert counts["red"] + counts["yellow"] + counts["green"] == 10_000


def test_red_channel_sends_goods_to_inspection() -> None:
    decision = _accepted(declaration(scenario=Scenario.RED_CHANNEL))
    assert decision.channel == "red"
    assert decision.inspection_required is True
    assert decision.inspection_reason is not None
    assert decision.inspection_reason.startswith("red channel")


@pytest.mark.parametrize("risk", ["green", "yellow"])
def test_green_and_yellow_channels_need_no_inspection_for_non_catalogue_goods(risk: str) -> None:
    assert inspection_reason(declaration(), REF, risk) is None


# --- the entry number ----------------------------------------------------------------------------


def test_export_entry_id_is_district_year_flag_zero_and_nine_digits() -> None:
    value = entry_id("5316", WHEN, Direction.EXPORT, "d-1")
    assert re.fullmatch(r"\d{18}", value)
    assert value[:4] == "5316"
    assert value[4:8] == "2025"
    assert value[8] == "0"


def test_import_entry_id_carries_flag_one() -> None:
    value = entry_id("5316", WHEN, Direction.IMPORT, "d-1")
    assert re.fullmatch(r"531620251\d{9}", value)


def test_entry_id_is_stable_for_a_declaration_and_differs_between_declarations() -> None:
    first = entry_id("5316", WHEN, Direction.EXPORT, "d-1")
    assert entry_id("5316", WHEN, Direction.EXPORT, "d-1") == first
    assert entry_id("5316", WHEN, Direction.EXPORT, "d-2") != first
    # Same sequence whatever the direction: only the flag digit changes.
    assert entry_id("5316", WHEN, Direction.IMPORT, "d-1")[9:] == first[9:]


def test_review_numbers_the_entry_from_the_reference_district_and_the_time() -> None:
    decision = _accepted(declaration(direction=Direction.IMPORT, scenario=Scenario.HAPPY))
    assert decision.entry_id == entry_id("5316", WHEN, Direction.IMPORT, "d-1")


@pytest.mark.xfail(
    reason="BUG: the 9-digit sequence is sha256(declaration_id) mod 10^9, so entry numbers "
    "collide by the birthday bound: 100,000 declarations in one district and year already "
    "share 7 numbers, and the load profiles of domain.md §6 reach that in minutes",
    strict=True,
)
def test_entry_ids_of_many_declarations_in_one_district_and_year_are_unique() -> None:
    """Birthday bound: 100,000² / (2 × 10^9) ≈ 5 expected collisions for a hashed sequence."""
    ids = {entry_id("5316", WHEN, Direction.EXPORT, f"d-{n}") for n in range(100_000)}
    assert len(ids) == 100_000


@pytest.mark.xfail(
    reason="BUG: entry_id takes the year from `when` as given (the services pass UTC), so a "
    "declaration filed in the first 8 hours of 1 January Beijing time is numbered with the "
    "previous year",
    strict=True,
)
def test_entry_id_year_is_the_beijing_calendar_year() -> None:
    """2025-12-31 17:00 UTC = 2026-01-01 01:00 Beijing (UTC+8): the 报关单 year is 2026."""
    new_year_in_beijing = datetime(2025, 12, 31, 17, 0, tzinfo=UTC)
    beijing = timezone(timedelta(hours=8))
    assert new_year_in_beijing.astimezone(beijing).year == 2026
    assert entry_id("5316", new_year_in_beijing, Direction.EXPORT, "d-1")[4:8] == "2026"


# --- statutory inspection ------------------------------------------------------------------------


def test_statutory_import_chapter_needs_inspection_with_condition_a() -> None:
    """Frozen fish, chapter 03 (category R, import food): entry inspection, condition A."""
    decision = _accepted(
        declaration(
            item("0303140000", "1000", "5.00", origin="NOR"),
            direction=Direction.IMPORT,
            counterparty="NOR",
            scenario=Scenario.HAPPY,
        )
    )
    assert decision.channel == "green"  # the catalogue applies whatever the channel
    assert decision.inspection_required is True
    assert decision.inspection_reason == (
        "statutory inspection: HS 0303140000 (condition A, category R)"
    )


def test_statutory_export_chapter_needs_inspection_with_condition_b() -> None:
    """Toys, chapter 95 (category N, export commodity): exit inspection, condition B."""
    decision = _accepted(
        declaration(item("8517130000"), item("9503008900"), scenario=Scenario.HAPPY)
    )
    assert decision.inspection_required is True
    assert decision.inspection_reason == (
        "statutory inspection: HS 9503008900 (condition B, category N)"
    )


def test_statutory_reason_wins_over_the_red_channel_reason() -> None:
    reason = inspection_reason(
        declaration(item("4403110000"), trade_mode=TradeMode.CBEC_B2B_DIRECT), REF, "red"
    )
    assert reason == "statutory inspection: HS 4403110000 (condition B, category P)"


def test_hand_built_catalogue_decides_which_chapters_are_inspected() -> None:
    """SMALL lists only chapter 03: chapter 95 toys pass uninspected there."""
    assert inspection_reason(declaration(item("9503008900")), SMALL, "green") is None
    reason = inspection_reason(
        declaration(item("0303140000"), direction=Direction.IMPORT), SMALL, "green"
    )
    assert reason is not None and "condition A, category R" in reason
