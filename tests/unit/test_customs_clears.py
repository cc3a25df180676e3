"""Customs clears on its own when nothing holds the goods: accepted, released and closed at once."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from schemas.envelope import Envelope, new_envelope
from schemas.messages import (
    DeclarationAccepted,
    DeclarationClosed,
    FileDeclaration,
    GoodsReleased,
    ReleaseGoods,
)
from schemas.trade import Direction, OriginCertificate, Scenario
from services.common.changes import Held
from services.common.handling import Context, Outcome
from services.customs import handlers, rules
from services.customs.reference import load_reference as customs_reference
from services.customs.store import CustomsRecord
from tests.unit.builders import declaration, green_acceptance, item

D = Decimal
CUSTOMS = customs_reference()
CTX = Context("customs", 20261122, datetime(2026, 11, 20, 2, 0, tzinfo=UTC), CUSTOMS)
PHONES = declaration(item("8517130000", "100", "120.00"), scenario=Scenario.HAPPY)


def test_an_export_with_nothing_to_inspect_or_certify_clears_on_its_own() -> None:
    green = green_acceptance()
    assert rules.clears(green, Direction.EXPORT)
    # Imports wait for their taxes; inspection and a certificate of origin wait for inspection.
    assert not rules.clears(green, Direction.IMPORT)
    red = green.model_copy(update={"inspection_required": True, "inspection_reason": "red"})
    assert not rules.clears(red, Direction.EXPORT)
    assert not rules.clears(
        green.model_copy(update={"certificate_requested": True}), Direction.EXPORT
    )


def _file(may_clear: bool, **changes: object) -> tuple[Envelope, Outcome]:
    filing = FileDeclaration(declaration=PHONES.model_copy(update=changes), may_clear=may_clear)
    envelope = new_envelope(filing, declaration_id="d-1", source="gateway")
    return envelope, handlers.file_declaration(filing, envelope, None, CTX)


def test_a_filing_that_may_clear_is_answered_accepted_released_and_closed_together() -> None:
    filing, outcome = _file(True)
    accepted, released, closed = (e.payload for e in outcome.emit)
    assert isinstance(accepted, DeclarationAccepted) and accepted.clears
    assert isinstance(released, GoodsReleased) and released.closes
    assert isinstance(closed, DeclarationClosed)
    assert released.entry_id == closed.entry_id == accepted.entry_id
    # Each answers the filing: a re-sent filing replays all three.
    assert {e.causation_id for e in outcome.emit} == {filing.id}
    # Minutes as the commands would have made them: release 10, close 60 (simulated_minutes).
    assert [(r.status, r.minutes) for r in released.receipts] == [("800", D(10))]
    assert [(r.status, r.minutes) for r in closed.receipts] == [("899", D(60))]
    assert outcome.put is not None and outcome.put.status == "899"


def test_a_filing_held_by_the_gateway_is_only_accepted() -> None:
    _, outcome = _file(False)
    [accepted] = [e.payload for e in outcome.emit]
    assert isinstance(accepted, DeclarationAccepted) and not accepted.clears
    assert outcome.put is not None and outcome.put.status == accepted.status_code


def test_goods_to_inspect_wait_for_the_result_even_when_customs_may_clear() -> None:
    _, red = _file(True, scenario=Scenario.RED_CHANNEL)
    [accepted] = [e.payload for e in red.emit]
    assert isinstance(accepted, DeclarationAccepted) and accepted.inspection_required
    certificate = OriginCertificate.FORM_E
    _, certified = _file(True, certificate_of_origin=certificate)
    assert [e.type for e in certified.emit] == ["customs.declaration.accepted"]


def test_a_release_that_may_close_is_answered_released_and_closed() -> None:
    accepted = CustomsRecord(
        entry_id="531620260000000001",
        status_code="399",
        channel="red",
        direction="import",
        trade_mode="0110",
        declarant_uscc="91350100M000100Y43",
        document="报关单",
    )
    put = accepted.model_dump_json().encode()
    held = Held("d-1", "", "399", None, 1, put, 0.0)
    for may_close, types in [
        (True, ["customs.goods.released", "customs.declaration.closed"]),
        (False, ["customs.goods.released"]),
    ]:
        command = ReleaseGoods(may_close=may_close)
        release = new_envelope(command, declaration_id="d-1", source="g")
        outcome = handlers.release_goods(command, release, held, CTX)
        assert [e.type for e in outcome.emit] == types
        assert outcome.put is not None and outcome.put.status == ("899" if may_close else "800")
