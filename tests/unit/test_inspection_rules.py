"""Inspection & quarantine decisions: forced and seeded outcomes, certificate numbers."""

from __future__ import annotations

import random
import re
from collections import Counter
from decimal import Decimal

import pytest

from schemas.messages import InspectionFailed, InspectionPassed
from schemas.trade import Direction, Scenario
from services.inspection.rules import (
    FailureReason,
    InspectionReference,
    certificate_no,
    inspect,
)
from tests.unit.builders import FixedDraw, shipped

REF = InspectionReference.from_json(shipped("inspection"))
ALWAYS_FAIL = InspectionReference(
    fail_rate=Decimal("1"),
    inspection_org="2200",
    failure_reasons=(FailureReason("I399", "sample failure", "样品不合格"),),
)
NEVER_FAIL = InspectionReference(
    fail_rate=Decimal("0"), inspection_org="2200", failure_reasons=ALWAYS_FAIL.failure_reasons
)


def _inspect(
    rng: random.Random,
    *,
    scenario: Scenario | None = None,
    ref: InspectionReference = REF,
    direction: Direction = Direction.IMPORT,
    declaration_id: str = "d-1",
) -> InspectionPassed | InspectionFailed:
    return inspect(
        declaration_id=declaration_id, direction=direction, scenario=scenario, ref=ref, rng=rng
    )


def test_shipped_reference_loads() -> None:
    assert REF.fail_rate == Decimal("0.03")
    assert REF.inspection_org == "4403"
    assert [r.code for r in REF.failure_reasons] == ["I301", "I302", "I303"]


def test_inspection_fail_scenario_fails_with_the_first_reason_whatever_the_draw() -> None:
    """Draw 0.99 would pass (0.99 ≥ 0.03); the scenario fails anyway, reason I301."""
    result = _inspect(FixedDraw(0.99), scenario=Scenario.INSPECTION_FAIL)
    assert isinstance(result, InspectionFailed)
    assert result.reason_code == "I301"
    assert "label" in result.reason
    assert result.reason_zh == "标签不符合要求"


def test_happy_scenario_passes_whatever_the_draw() -> None:
    """Draw 0.0 would fail (0.0 < 0.03); the scenario passes, even with a 100% fail rate."""
    assert isinstance(_inspect(FixedDraw(0.0), scenario=Scenario.HAPPY), InspectionPassed)
    assert isinstance(
        _inspect(FixedDraw(0.0), scenario=Scenario.HAPPY, ref=ALWAYS_FAIL), InspectionPassed
    )


@pytest.mark.parametrize(
    ("draw", "fails"),
    [
        (0.0, True),
        (0.0299, True),  # 0.0299 < 0.03
        (0.03, False),  # 0.03 is not < 0.03
        (0.5, False),
    ],
)
def test_draw_below_the_fail_rate_fails(draw: float, fails: bool) -> None:
    assert isinstance(_inspect(FixedDraw(draw)), InspectionFailed) is fails


def test_failure_reason_is_drawn_from_the_reference_list() -> None:
    """Over 300 seeded failures (fail rate 100%) every shipped reason turns up."""
    ref = InspectionReference(
        fail_rate=Decimal("1"), inspection_org="4403", failure_reasons=REF.failure_reasons
    )
    codes = Counter(
        result.reason_code
        for seed in range(300)
        if isinstance(result := _inspect(random.Random(seed), ref=ref), InspectionFailed)
    )
    assert set(codes) == {"I301", "I302", "I303"}
    assert sum(codes.values()) == 300


def test_fail_rate_of_one_always_fails_and_zero_never_does() -> None:
    for seed in range(100):
        failed = _inspect(random.Random(seed), ref=ALWAYS_FAIL)
        assert isinstance(failed, InspectionFailed) and failed.reason_code == "I399"
        assert isinstance(_inspect(random.Random(seed), ref=NEVER_FAIL), InspectionPassed)


def test_outcome_is_deterministic_for_the_same_seed() -> None:
    for seed in range(500):
        assert _inspect(random.Random(seed)) == _inspect(random.Random(seed))


def test_fail_rate_over_many_seeds_is_about_three_percent() -> None:
    """10,000 seeds at 3%: 300 ± 17 failures; the band 200-400 is about ± 6σ."""
    failures = sum(
        isinstance(_inspect(random.Random(seed)), InspectionFailed) for seed in range(10_000)
    )
    assert 200 <= failures <= 400


def test_certificate_number_is_org_direction_letter_and_twelve_digits() -> None:
    assert re.fullmatch(r"4403I\d{12}", certificate_no("4403", Direction.IMPORT, "d-1"))
    assert re.fullmatch(r"4403E\d{12}", certificate_no("4403", Direction.EXPORT, "d-1"))


def test_certificate_number_is_stable_per_declaration() -> None:
    first = certificate_no("4403", Direction.EXPORT, "d-1")
    assert certificate_no("4403", Direction.EXPORT, "d-1") == first
    assert certificate_no("4403", Direction.EXPORT, "d-2") != first
    # Only the direction letter differs between import and export of one declaration.
    assert certificate_no("4403", Direction.IMPORT, "d-1")[5:] == first[5:]


def test_passed_inspection_carries_the_certificate_of_the_reference_org() -> None:
    result = _inspect(FixedDraw(0.5), ref=NEVER_FAIL, direction=Direction.EXPORT)
    assert isinstance(result, InspectionPassed)
    assert result.certificate_no == certificate_no("2200", Direction.EXPORT, "d-1")
    assert result.certificate_no.startswith("2200E")
