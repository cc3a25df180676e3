"""The agency kit's routing: a handler keyed by command class gets its command typed, and a
sandbox stall aimed at the agency is withheld once, before any handler runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.envelope import Envelope, new_envelope
from schemas.messages import InspectGoods, ReleaseGoods
from schemas.trade import Direction, Scenario, TradeMode
from services.common.changes import Held
from services.common.handling import Context, HandlerError, Outcome, by_command

CTX = Context("inspection", 1, datetime(2026, 12, 6, tzinfo=UTC))


def _inspect(scenario: Scenario | None) -> Envelope:
    command = InspectGoods(
        direction=Direction.EXPORT,
        trade_mode=TradeMode.GENERAL,
        hs_codes=("8517130000",),
        reason="red channel",
        scenario=scenario,
    )
    return new_envelope(command, declaration_id="d-1", source="gateway")


def test_the_handler_receives_the_command_typed_with_its_envelope() -> None:
    seen: list[tuple[InspectGoods, Envelope]] = []

    def inspect(
        command: InspectGoods, envelope: Envelope, held: Held | None, ctx: Context
    ) -> Outcome:
        seen.append((command, envelope))
        return Outcome()

    routes = by_command("inspection", {InspectGoods: inspect})
    envelope = _inspect(None)
    routes[InspectGoods.TYPE](envelope, None, CTX)
    assert list(routes) == ["inspection.goods.inspect"]
    assert seen == [(envelope.payload, envelope)]


def test_a_stall_aimed_at_this_agency_answers_nothing_and_runs_no_handler() -> None:
    def inspect(*_: object) -> Outcome:
        raise AssertionError("a withheld command reached its handler")

    outcome = by_command("inspection", {InspectGoods: inspect})[InspectGoods.TYPE](
        _inspect(Scenario.STALL_INSPECTION), None, CTX
    )
    assert outcome.put is None and outcome.emit == [] and outcome.also == []


def test_a_stall_aimed_at_another_agency_is_handled_here() -> None:
    handled: list[str] = []

    def inspect(command: InspectGoods, *_: object) -> Outcome:
        handled.append(command.reason)
        return Outcome()

    routes = by_command("inspection", {InspectGoods: inspect})
    routes[InspectGoods.TYPE](_inspect(Scenario.STALL_TAX), None, CTX)
    assert handled == ["red channel"]


def test_a_payload_of_another_class_is_refused_naming_the_class() -> None:
    routes = by_command("inspection", {InspectGoods: lambda *_: Outcome()})
    release = new_envelope(ReleaseGoods(), declaration_id="d-1", source="gateway")
    with pytest.raises(HandlerError) as caught:
        routes[InspectGoods.TYPE](release, None, CTX)
    assert caught.value.code == "wrong_payload" and "InspectGoods" in caught.value.detail
