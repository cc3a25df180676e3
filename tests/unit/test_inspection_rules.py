"""Inspection & quarantine: catalogue kinds, outcomes and reasons, durations, origin certificates."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from schemas.messages import InspectionFailed, InspectionPassed, ValueLine
from schemas.trade import Direction, OriginCertificate, Scenario, TradeMode
from services.inspection.reference import InspectionReference
from services.inspection.reference import load_reference as inspection_reference
from services.inspection.rules import certificate_no, inspect, kind_of, origin_certificate
from tests.unit.builders import FixedDraw, line

REF = inspection_reference()
WHEN = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)
D = Decimal
LOGS = line("4403110090", "1000.00").model_copy(update={"inspection": "PQ"})
MILK = line("1901101000", "1000.00").model_copy(update={"inspection": "RS"})
TOYS = line("9503008900", "1000.00").model_copy(update={"inspection": "N"})
PHONES = line("8517130000", "1000.00")


def _inspect(
    lines: tuple[ValueLine, ...],
    rng: random.Random,
    *,
    scenario: Scenario | None = None,
    ref: InspectionReference = REF,
    direction: Direction = Direction.EXPORT,
    **kw: object,
) -> InspectionPassed | InspectionFailed:
    return inspect(
        declaration_id="d-1",
        direction=direction,
        scenario=scenario,
        ref=ref,
        rng=rng,
        lines=lines,
        when=WHEN,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("lines", "kind"),
    [
        ((PHONES, LOGS), "quarantine"),  # P/Q beats everything
        ((TOYS, MILK), "food"),  # R/S beats commodity
        ((PHONES, TOYS), "commodity"),
        ((PHONES,), "sampled"),  # no category: a random check
    ],
)
def test_the_most_demanding_category_decides_the_check(
    lines: tuple[ValueLine, ...], kind: str
) -> None:
    assert kind_of(lines)[0] == kind


@pytest.mark.parametrize(
    ("lines", "draw", "fails"),
    [
        ((LOGS,), 0.0499, True),  # quarantine fail rate 0.05
        ((LOGS,), 0.05, False),
        ((MILK,), 0.0399, True),  # food 0.04
        ((MILK,), 0.04, False),
        ((TOYS,), 0.0299, True),  # commodity 0.03
        ((PHONES,), 0.03, False),  # sampled 0.03
    ],
)
def test_each_kind_fails_at_its_configured_rate(
    lines: tuple[ValueLine, ...], draw: float, fails: bool
) -> None:
    assert isinstance(_inspect(lines, FixedDraw(draw)), InspectionFailed) is fails


def test_quarantine_failure_is_a_pest_and_names_the_line() -> None:
    failed = _inspect((PHONES, LOGS), FixedDraw(0.0), scenario=Scenario.INSPECTION_FAIL)
    assert isinstance(failed, InspectionFailed)
    assert (failed.reason_code, failed.hs_code) == ("I303", "4403110090")
    assert failed.reason_zh == "检出检疫性有害生物"
    # The second line (logs) is the one that failed; the rule names the check.
    assert (failed.field, failed.rule) == ("items[1].hs_code", "inspection.quarantine_pest")


@pytest.mark.parametrize("mode", [TradeMode.GENERAL, TradeMode.CBEC_RETAIL])
def test_forced_failure_of_goods_without_category_is_a_labelling_failure(mode: TradeMode) -> None:
    failed = _inspect((PHONES,), FixedDraw(0.99), scenario=Scenario.INSPECTION_FAIL)
    assert isinstance(failed, InspectionFailed)
    assert (failed.reason_code, failed.reason_zh) == ("I301", "标签不符合要求")
    assert (failed.field, failed.rule) == ("items[0].hs_code", "inspection.labelling (GB 7718)")


def test_failure_reasons_are_drawn_from_those_the_check_finds() -> None:
    """At a 100% fail rate, commodity checks find I301, I302 and I304 but never a pest."""
    always = replace(REF, fail_rates={k: D(1) for k in REF.fail_rates})
    codes = {
        r.reason_code
        for seed in range(200)
        if isinstance(r := _inspect((TOYS,), random.Random(seed), ref=always), InspectionFailed)
    }
    assert codes == {"I301", "I302", "I304"}


@pytest.mark.parametrize(
    ("lines", "low", "high"),
    [((LOGS,), 4, 48), ((MILK,), 8, 72), ((TOYS,), 1, 24), ((PHONES,), D("0.5"), 4)],
)
def test_simulated_hours_fall_within_the_published_spread(
    lines: tuple[ValueLine, ...], low: Decimal, high: Decimal
) -> None:
    for seed in range(50):
        result = _inspect(lines, random.Random(seed), scenario=Scenario.HAPPY)
        assert result.hours is not None and low <= result.hours <= high
    assert _inspect(lines, random.Random(7)) == _inspect(lines, random.Random(7))


def test_passed_inspection_carries_certificate_categories_and_checks() -> None:
    passed = _inspect((TOYS, MILK), FixedDraw(0.5))
    assert isinstance(passed, InspectionPassed)
    assert re.fullmatch(r"4403E\d{12}", passed.certificate_no)
    assert passed.categories == "NRS"
    assert passed.checks[0].startswith("food safety")


# --- certificates of origin ------------------------------------------------------------------


@pytest.mark.parametrize("country", ["DEU", "FRA", "GBR", "CAN", "TUR", "UKR", "LIE"])
def test_form_a_is_not_issued_for_the_eu_uk_ca_tr_ua_li_a_non_preferential_one_is(
    country: str,
) -> None:
    co = origin_certificate(
        OriginCertificate.FORM_A, destination=country, declaration_id="d-1", when=WHEN, ref=REF
    )
    assert co.issued is OriginCertificate.NON_PREFERENTIAL
    assert co.number is not None and co.number.startswith("C254403")
    assert "2021-12-01" in co.note


@pytest.mark.parametrize(
    ("requested", "country", "issued"),
    [
        (OriginCertificate.FORM_A, "NOR", OriginCertificate.FORM_A),
        (OriginCertificate.FORM_E, "VNM", OriginCertificate.FORM_E),
        (OriginCertificate.FORM_E, "JPN", None),  # ACFTA: ASEAN only
        (OriginCertificate.RCEP, "JPN", OriginCertificate.RCEP),
        (OriginCertificate.RCEP, "USA", None),
        (OriginCertificate.NON_PREFERENTIAL, "USA", OriginCertificate.NON_PREFERENTIAL),
    ],
)
def test_preferential_certificates_follow_their_agreements(
    requested: OriginCertificate, country: str, issued: OriginCertificate | None
) -> None:
    co = origin_certificate(
        requested, destination=country, declaration_id="d-1", when=WHEN, ref=REF
    )
    assert co.issued is issued
    assert (co.number is None) is (issued is None)
    assert co.note_zh


def test_certificate_only_request_passes_without_a_physical_inspection() -> None:
    """No goods to inspect: even the forced failure does not apply; Form E for Vietnam."""
    result = _inspect(
        (PHONES,),
        FixedDraw(0.0),
        scenario=Scenario.INSPECTION_FAIL,
        physical=False,
        certificate=OriginCertificate.FORM_E,
        destination="VNM",
    )
    assert isinstance(result, InspectionPassed)
    assert result.inspected is False
    assert result.origin is not None and result.origin.issued is OriginCertificate.FORM_E
    assert result.hours is not None and result.hours <= 1


def test_certificate_number_is_stable_per_declaration() -> None:
    first = certificate_no("4403", Direction.EXPORT, "d-1")
    assert certificate_no("4403", Direction.EXPORT, "d-1") == first
    assert certificate_no("4403", Direction.IMPORT, "d-1") == first[:4] + "I" + first[5:]
