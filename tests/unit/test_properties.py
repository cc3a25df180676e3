"""Properties over the request models, the body guard and the agency rules (hypothesis).

The documented errors: a request is refused with a pydantic ValidationError (→ 422 naming
field and rule) or BodyRefused (→ 400/413/415); a decision never raises, it rejects, denies
or fails with a code. Anything else escaping is a bug these properties look for.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.api import DeclarationRequest
from schemas.codes import make_uscc, uscc_problem
from schemas.messages import DeclarationAccepted, DeclarationRejected
from schemas.samples import sample_declaration
from schemas.trade import DeclarationData, Direction, Scenario, TradeMode
from services.common.bodies import MAX_DEPTH, BodyRefused, check_json_body, json_depth
from services.common.problems import field_path, without_echoes
from services.customs.reference import load_reference as customs_reference
from services.customs.rules import review
from services.forex.reference import load_reference as forex_reference
from services.forex.rules import register_payment, settle
from services.inspection.reference import load_reference as inspection_reference
from services.inspection.rules import inspect
from services.tax.reference import load_reference as tax_reference
from services.tax.rules import export_refund, import_taxes

CUSTOMS = customs_reference()
FOREX = forex_reference()
TAX = tax_reference()
INSPECTION = inspection_reference()
WHEN = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
numbers = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.text(max_size=12),
)
FIELDS: dict[str, Any] = {
    "direction": st.sampled_from(["export", "import", "sideways", ""]) | json_values,
    "trade_mode": st.sampled_from([m.value for m in TradeMode] + ["9999"]) | json_values,
    "counterparty_country": st.sampled_from(["DEU", "FRA", "XXX", "de"]) | st.text(max_size=4),
    "currency": st.sampled_from(["USD", "EUR", "CNY", "XXX"]) | st.text(max_size=4),
    "reference": st.none() | st.text(max_size=80),
    "scenario": st.none() | st.sampled_from([s.value for s in Scenario] + ["nope"]),
    "pace": st.none() | st.sampled_from(["instant", "demo", "step", "fast"]),
}
ITEM_FIELDS: dict[str, Any] = {
    "hs_code": st.text(alphabet="0123456789O ", min_size=8, max_size=12),
    "description": st.text(max_size=40),
    "quantity": numbers,
    "unit_price": numbers,
    "unit": st.text(max_size=25),
    "origin_country": st.sampled_from(["CHN", "FRA", "USA", "ZZZ"]),
}


@st.composite
def mutated_requests(draw: st.DrawFn) -> Any:
    """A valid sample with some fields replaced, or something else entirely."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    body = sample_declaration(draw(st.sampled_from(["export", "import"])), "0110")
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=3, unique=True)):
        body[name] = draw(FIELDS[name])
    for name in draw(st.lists(st.sampled_from(sorted(ITEM_FIELDS)), max_size=3, unique=True)):
        body["items"][0][name] = draw(ITEM_FIELDS[name])
    if draw(st.booleans()):
        body["declarant"]["uscc"] = draw(
            st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=16, max_size=19)
        )
    return body


@QUICK
@given(mutated_requests())
def test_a_request_is_either_valid_or_refused_naming_fields(body: Any) -> None:
    try:
        DeclarationRequest.model_validate(body)
    except ValidationError as exc:
        errors = without_echoes(list(exc.errors()))
        assert errors, "every refusal names at least one field"
        for error in errors:
            assert field_path(tuple(error["loc"])) and error["type"]


@QUICK
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_body_is_accepted_or_refused_with_a_rule(body: bytes) -> None:
    for content_type in (
        "application/json",
        "application/problem+json; charset=utf-8",
        "text/plain",
        None,
    ):
        try:
            check_json_body(body, content_type)
        except BodyRefused as refused:
            assert refused.status in (400, 415) and refused.rule and refused.detail


@given(st.integers(min_value=0, max_value=3 * MAX_DEPTH))
def test_depth_is_measured_exactly_and_refused_past_the_limit(depth: int) -> None:
    body = ("[" * depth + "]" * depth).encode() or b"0"
    assert json_depth(json.loads(body)) == depth
    try:
        check_json_body(body, "application/json")
        refused = False
    except BodyRefused as exc:
        refused = exc.rule == "json_depth"
    assert refused == (depth > MAX_DEPTH)


@given(st.text(max_size=25))
def test_uscc_check_never_raises(code: str) -> None:
    assert uscc_problem(code) is None or isinstance(uscc_problem(code), str)


@given(
    st.text(alphabet=USCC_CHARS, min_size=2, max_size=2),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.text(alphabet=USCC_CHARS, min_size=8, max_size=8),
)
def test_every_made_uscc_passes_and_any_other_last_character_fails(
    registration: str, region: str, organisation: str
) -> None:
    """GB 32100: registration authority and type, 6-digit region, organisation code, checks."""
    code = make_uscc(registration + region + organisation)
    assert uscc_problem(code) is None
    for wrong in "0123456789ABCDEFGHJKLMNPQRTUWXY":
        if wrong != code[-1]:
            assert uscc_problem(code[:-1] + wrong) is not None


tariff_codes = st.sampled_from(sorted(CUSTOMS.tariff)) | st.text(
    alphabet="0123456789", min_size=10, max_size=10
)


@st.composite
def declarations(draw: st.DrawFn) -> DeclarationData:
    """Valid declarations of arbitrary goods, amounts, modes and scenarios."""
    direction = draw(st.sampled_from(list(Direction)))
    body = sample_declaration(direction.value, "0110")
    body["scenario"] = draw(st.none() | st.sampled_from([s.value for s in Scenario]))
    body["currency"] = draw(st.sampled_from(["USD", "EUR", "JPY", "HKD", "CNY"]))
    body["items"] = [
        {
            "hs_code": draw(tariff_codes),
            "description": "goods",
            "quantity": str(
                draw(
                    st.decimals(
                        min_value=Decimal("0.0001"), max_value=Decimal(10_000_000), places=4
                    )
                )
            ),
            "unit": "011",
            "unit_price": str(
                draw(st.decimals(min_value=Decimal(0), max_value=Decimal(1_000_000_000), places=4))
            ),
            "origin_country": draw(st.sampled_from(["CHN", "FRA", "USA", "NGA", "JPN"])),
        }
        for _ in range(draw(st.integers(1, 4)))
    ]
    try:
        return DeclarationData.model_validate(body)
    except ValidationError:
        return DeclarationData.model_validate(sample_declaration(direction.value, "0110"))


@QUICK
@given(declarations(), st.integers(0, 2**32))
def test_the_agencies_decide_any_valid_declaration_without_raising(
    decl: DeclarationData, seed: int
) -> None:
    """Customs accepts or rejects with a code; the others then decide on its figures."""
    rng = random.Random(seed)
    decision = review(decl, declaration_id="d-prop", ref=CUSTOMS, rng=rng, when=WHEN)
    if isinstance(decision, DeclarationRejected):
        assert decision.reason_code and decision.field
        return
    assert isinstance(decision, DeclarationAccepted)
    assert all(line.value_cny >= 0 for line in decision.lines)
    inspected = inspect(
        declaration_id="d-prop",
        direction=decl.direction,
        scenario=decl.scenario,
        ref=INSPECTION,
        rng=rng,
        lines=decision.lines,
        when=WHEN,
    )
    assert inspected.TYPE in ("inspection.goods.passed", "inspection.goods.failed")
    on = date(2026, 11, 23)
    if decl.direction is Direction.EXPORT:
        settled = settle(decl.total_value, decl.currency, FOREX, uscc=decl.declarant.uscc, on=on)
        assert settled.amount_cny >= 0
        refund = export_refund(
            decision.lines, scenario=decl.scenario, ref=TAX, uscc=decl.declarant.uscc
        )
        assert refund.TYPE.startswith("tax.")
    else:
        register_payment(decl.total_value, decl.currency, FOREX, uscc=decl.declarant.uscc, on=on)
        taxes = import_taxes(decision.lines, ref=TAX, trade_mode=decl.trade_mode)
        assert taxes.TYPE == "tax.import.collected"
