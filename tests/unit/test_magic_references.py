"""Magic references (`SW-<OUTCOME>-<text>`) name the same outcomes as `scenario`; malformed
ones are refused with the rule they broke."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from schemas.api import DeclarationRequest
from schemas.samples import sample_declaration
from schemas.scenarios import (
    AGENCIES,
    BY_NAME,
    CATALOGUE,
    HELPER_OUTCOMES,
    STALLS,
    Forced,
    MagicReferenceError,
    ScenarioInfo,
    forced_outcome,
    parse_reference,
    scenario_for,
    withholds,
)
from schemas.trade import Scenario


@pytest.mark.parametrize("info", CATALOGUE, ids=lambda i: i.magic)
def test_every_catalogued_magic_value_parses_to_its_scenario(info: ScenarioInfo) -> None:
    forced = parse_reference(info.magic + "PO-1234")
    assert forced is not None and forced.scenario is info.scenario


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("SW-GREEN-x", Forced(Scenario.HAPPY)),
        ("SW-YELLOW-x", Forced(Scenario.YELLOW_CHANNEL)),
        ("SW-RED-x", Forced(Scenario.RED_CHANNEL)),
        ("SW-REJECT-x", Forced(Scenario.CUSTOMS_REJECT)),
        ("SW-INSPFAIL-x", Forced(Scenario.INSPECTION_FAIL)),
        ("SW-REFUNDDENY-x", Forced(Scenario.REFUND_DENIED)),
        ("SW-STALL-CUSTOMS-x", Forced(Scenario.STALL_CUSTOMS)),
        ("SW-STALL-INSPECTION-x", Forced(Scenario.STALL_INSPECTION)),
        ("SW-STALL-FOREX-x", Forced(Scenario.STALL_FOREX)),
        ("SW-STALL-TAX-x", Forced(Scenario.STALL_TAX)),
        ("SW-SHORTPAY80-x", Forced(Scenario.SHORT_PAYMENT, share=Decimal("0.80"))),
        ("SW-SHORTPAY65-INV-7", Forced(Scenario.SHORT_PAYMENT, share=Decimal("0.65"))),
        ("SW-SHORTPAY1-x", Forced(Scenario.SHORT_PAYMENT, share=Decimal("0.01"))),
        ("SW-DELAY-30S-x", Forced(Scenario.DELAYED, delay_s=30)),
        ("SW-DELAY-86400S-x", Forced(Scenario.DELAYED, delay_s=86_400)),
        ("SW-RED-with-dashes-and-中文", Forced(Scenario.RED_CHANNEL)),
    ],
)
def test_magic_values_carry_their_figures(reference: str, expected: Forced) -> None:
    assert parse_reference(reference) == expected


@pytest.mark.parametrize("reference", ["PO-1234", "sw-red-1", "SWRED-1", "S", "RED-SW-1"])
def test_ordinary_references_force_nothing(reference: str) -> None:
    assert parse_reference(reference) is None


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("SW-BLUE-1", "the SW- prefix is reserved for sandbox magic values"),
        ("SW-", "the SW- prefix is reserved"),
        ("SW-STALL-1", "the SW- prefix is reserved"),
        ("SW-STALL-BANK-1", "the SW- prefix is reserved"),
        ("SW-REDX-1", "the SW- prefix is reserved"),
        ("SW-RED", "needs your own text after the outcome"),
        ("SW-RED-", "needs your own text after the outcome"),
        ("SW-STALL-TAX", "needs your own text"),
        ("SW-SHORTPAY80", "needs your own text"),
        ("SW-SHORTPAY0-x", "1 to 99"),
        ("SW-SHORTPAY100-x", "1 to 99"),
        ("SW-SHORTPAY-x", "the SW- prefix is reserved"),
        ("SW-DELAY-0S-x", "1 to 86400 seconds"),
        ("SW-DELAY-86401S-x", "1 to 86400 seconds"),
        ("SW-DELAY-5M-x", "the SW- prefix is reserved"),
        ("SW-DELAY-5S", "needs your own text"),
    ],
)
def test_malformed_magic_values_are_refused_naming_the_grammar(reference: str, says: str) -> None:
    with pytest.raises(MagicReferenceError, match=says):
        parse_reference(reference)


def test_the_grammar_is_named_in_the_error() -> None:
    with pytest.raises(MagicReferenceError) as caught:
        parse_reference("SW-BLUE-1")
    for directive in ("GREEN", "YELLOW", "STALL-TAX", "SHORTPAY<1-99>", "DELAY-<1-86400>S"):
        assert directive in str(caught.value)


def test_scenario_and_reference_must_agree() -> None:
    assert forced_outcome(Scenario.RED_CHANNEL, "SW-RED-1") == Forced(Scenario.RED_CHANNEL)
    assert forced_outcome(None, "PO-1") is None
    assert forced_outcome(Scenario.SHORT_PAYMENT, None) == Forced(
        Scenario.SHORT_PAYMENT, share=Decimal("0.80")
    )
    assert forced_outcome(Scenario.DELAYED, "PO-1") == Forced(Scenario.DELAYED, delay_s=30)
    # the reference's figure wins over the scenario's default
    assert forced_outcome(Scenario.SHORT_PAYMENT, "SW-SHORTPAY65-x") == Forced(
        Scenario.SHORT_PAYMENT, share=Decimal("0.65")
    )
    with pytest.raises(MagicReferenceError, match="forces red_channel but scenario is happy"):
        forced_outcome(Scenario.HAPPY, "SW-RED-1")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"reference": "SW-BLUE-1"}, "reserved for sandbox magic values"),
        ({"reference": "SW-RED-1", "scenario": "happy"}, "forces red_channel"),
        ({"reference": ""}, "at least 1 character"),
        ({"reference": "SW-RED-" + "x" * 60}, "at most 64 characters"),
    ],
)
def test_the_request_model_refuses_bad_references(body: dict[str, str], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        DeclarationRequest.model_validate({**sample_declaration(), **body})


def test_agencies_not_concerned_take_their_happy_path() -> None:
    red = Forced(Scenario.RED_CHANNEL)
    assert [scenario_for(red, a) for a in AGENCIES] == [
        Scenario.RED_CHANNEL,
        Scenario.RED_CHANNEL,
        Scenario.HAPPY,
        Scenario.HAPPY,
    ]
    short = Forced(Scenario.SHORT_PAYMENT, share=Decimal("0.5"))
    assert scenario_for(short, "forex") is Scenario.SHORT_PAYMENT
    assert scenario_for(short, "customs") is Scenario.HAPPY
    assert {scenario_for(Forced(Scenario.DELAYED, delay_s=3), a) for a in AGENCIES} == {
        Scenario.HAPPY
    }
    assert scenario_for(None, "tax") is None


def test_only_the_stalled_agency_withholds_its_answer() -> None:
    for scenario, agency in STALLS.items():
        assert withholds(scenario, agency)
        assert not any(withholds(scenario, other) for other in AGENCIES if other != agency)
        assert agency in BY_NAME[scenario].acts_on
    assert not any(withholds(s, a) for s in Scenario if s not in STALLS for a in AGENCIES)
    assert not withholds(None, "customs")


def test_every_helper_outcome_answers_commands_of_its_own_agency() -> None:
    for helper in HELPER_OUTCOMES:
        assert helper.agency in AGENCIES
        assert all(c.startswith(helper.agency + ".") for c in helper.commands)
        assert helper.scenario not in STALLS  # a helper decides; it never stalls again
