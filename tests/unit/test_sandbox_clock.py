"""The sandbox clock and the test helpers' forcing, as pure functions of the saga and the time."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.core.config import GatewayConfig
from gateway.saga import (
    Paced,
    PendingStep,
    Saga,
    advance,
    backoff_s,
    filings,
    shift_clock,
    stall_reason,
    start,
)
from gateway.saga.forcing import NoPendingStep, force
from gateway.saga.handlers import catch_up, due_pass
from schemas.api import Pace
from schemas.envelope import Envelope, new_envelope
from schemas.messages import ApplyRefund, RefundDenied, SettleReceipt, ValueLine
from schemas.scenarios import HELPERS_BY_NAME
from schemas.trade import DeclarationData, Scenario
from tests.unit.builders import declaration, item

D = Decimal
CONFIG = GatewayConfig(step_deadline_s=2.0, step_max_attempts=3)
ENTRY = "531620260000000001"
LINES = (ValueLine(hs_code="8517130000", value_cny=D("85200.00")),)


def _decl(reference: str | None = None, scenario: Scenario | None = None) -> DeclarationData:
    return declaration(item("8517130000", "100", "120.00"), scenario=scenario, reference=reference)


def _saga(reference: str | None = None, scenario: Scenario | None = None) -> Saga:
    return start("d-1", "ent-1", _decl(reference, scenario)).saga


def _step(command: ApplyRefund | SettleReceipt, deadline: float | None = 100.0) -> PendingStep:
    envelope = new_envelope(command, declaration_id="d-1", source="gateway")
    return filings.pending(envelope, (), deadline=deadline)  # kept whole


REFUND = ApplyRefund(entry_id=ENTRY, lines=LINES, scenario=Scenario.STALL_TAX)


def _refunding(deadline: float | None = 100.0, stalled: str | None = None) -> Saga:
    return _saga("SW-STALL-TAX-1").model_copy(
        update={
            "state": "refunding",
            "entry_id": ENTRY,
            "lines": LINES,
            "events_seen": 5,
            "pending": (_step(REFUND, deadline),),
            "stalled_reason": stalled,
        }
    )


# --- the clock ---------------------------------------------------------------------------------


def test_moving_the_clock_brings_every_deadline_and_release_nearer() -> None:
    held = _step(REFUND, deadline=None)
    saga = _refunding(deadline=100.0).model_copy(
        update={"paced": Paced(pace=Pace.DEMO, held=(held,), release_at=130.0, stage_s=30.0)}
    )
    moved = shift_clock(saga, 60)
    assert moved.pending[0].deadline == 40.0
    assert moved.paced is not None and moved.paced.release_at == 70.0
    assert moved.paced.held == (held,)  # a held step has no deadline to move
    assert shift_clock(moved, 15).clock_offset_s == 75.0


def test_nothing_due_before_the_deadline() -> None:
    caught = catch_up(_refunding(deadline=100.0), now=99.9, config=CONFIG)
    assert caught.send == () and not caught.stalled


def test_an_hour_passing_resends_at_each_deadline_then_stalls() -> None:
    saga = _refunding(deadline=100.0)
    command_id = saga.pending[0].command_id
    caught = catch_up(shift_clock(saga, 3600), now=0.0, config=CONFIG)
    # deadline 100 − 3600 = −3500 ≤ 0: attempt 2 at −3500, its deadline −3500 + backoff(2);
    # attempt 3 then; at the third deadline the step is out of tries (3): stalled.
    second = -3500 + backoff_s(2.0, 2, command_id)
    third = second + backoff_s(2.0, 3, command_id)
    assert third < 0
    assert caught.resent == ("tax.refund.apply", "tax.refund.apply")
    assert [Envelope.model_validate_json(s.envelope).id for s in caught.saga.pending] == [
        command_id
    ]
    assert (
        caught.send[0].command_id == command_id
    )  # the same command, so the agency deduplicates it
    assert caught.stalled and caught.saga.pending[0].deadline is None
    assert caught.saga.stalled_reason == ("no answer from tax to tax.refund.apply after 3 attempts")


def test_the_watcher_makes_one_pass_at_the_time_it_is() -> None:
    step = due_pass(_refunding(deadline=100.0), at=105.0, config=CONFIG)
    assert step.resent == ("tax.refund.apply",) and not step.stalled
    command_id = step.saga.pending[0].command_id
    assert step.saga.pending[0].deadline == 105.0 + backoff_s(2.0, 2, command_id)


def test_the_clock_releases_a_delayed_declarations_held_commands() -> None:
    held = _step(REFUND, deadline=None)
    saga = _refunding().model_copy(
        update={
            "pending": (),
            "paced": Paced(pace=Pace.DEMO, held=(held,), release_at=1030.0, stage_s=30.0),
        }
    )
    caught = catch_up(shift_clock(saga, 30), now=1000.0, config=CONFIG)
    assert caught.released == ("tax.refund.apply",)
    # released at its moment (1000): the step waits its deadline from then
    assert caught.saga.pending[0].deadline == 1000.0 + CONFIG.step_deadline_s


# --- forcing a pending step --------------------------------------------------------------------


def test_forcing_replaces_the_stalled_step_with_a_new_command_naming_the_outcome() -> None:
    saga = _refunding(deadline=None, stalled="no answer from tax")
    old = saga.pending[0]
    forced = force(
        saga, HELPERS_BY_NAME["refund_denied"], share=None, now=500.0, step_deadline_s=2.0
    )
    step = forced.saga.pending[0]
    assert forced.supersedes == old.command_id and step.supersedes == (old.command_id,)
    assert step.command_id == forced.send.id != old.command_id
    assert step.deadline == 502.0 and step.attempts == 1
    assert forced.saga.stalled_reason is None  # nothing is out of tries any more
    command = forced.send.payload
    assert isinstance(command, ApplyRefund) and command.scenario is Scenario.REFUND_DENIED
    assert command.lines == REFUND.lines and command.entry_id == ENTRY


@pytest.mark.parametrize("answered_by", ["old", "new"])
def test_whichever_answer_comes_first_resolves_the_forced_step(answered_by: str) -> None:
    saga = _refunding()
    forced = force(
        saga, HELPERS_BY_NAME["refund_denied"], share=None, now=500.0, step_deadline_s=2.0
    )
    cause = forced.supersedes if answered_by == "old" else forced.send.id
    denied = RefundDenied(reason_code="T201", reason="no invoice", reason_zh="无票")
    envelope = new_envelope(denied, declaration_id="d-1", source="tax", causation_id=cause)
    after = advance(forced.saga, envelope).saga
    assert after.state == "completed" and after.pending == ()


def test_buyer_pays_a_share_through_the_settlement_command() -> None:
    settle = SettleReceipt(
        entry_id=ENTRY, amount=D("12000.00"), currency="USD", scenario=Scenario.STALL_FOREX
    )
    saga = _refunding().model_copy(update={"state": "settling", "pending": (_step(settle),)})
    forced = force(
        saga, HELPERS_BY_NAME["buyer_pays"], share=D("0.8"), now=1.0, step_deadline_s=2.0
    )
    command = forced.send.payload
    assert isinstance(command, SettleReceipt)
    assert command.buyer_share == D("0.8") and command.scenario is Scenario.SHORT_PAYMENT


def test_forcing_a_step_the_declaration_does_not_wait_for_says_what_it_waits_for() -> None:
    with pytest.raises(NoPendingStep, match=r"waits for tax\.refund\.apply"):
        force(
            _refunding(),
            HELPERS_BY_NAME["inspection_passes"],
            share=None,
            now=1.0,
            step_deadline_s=2.0,
        )
    ended = _refunding().model_copy(update={"state": "completed", "pending": ()})
    with pytest.raises(NoPendingStep, match="has ended"):
        force(ended, HELPERS_BY_NAME["refund_paid"], share=None, now=1.0, step_deadline_s=2.0)


def test_forcing_a_held_step_sends_it_now() -> None:
    held = _step(REFUND, deadline=None)
    saga = _refunding().model_copy(
        update={
            "pending": (),
            "paced": Paced(pace=Pace.DEMO, held=(held,), release_at=1030.0, stage_s=30.0),
        }
    )
    forced = force(
        saga, HELPERS_BY_NAME["refund_paid"], share=None, now=1000.0, step_deadline_s=2.0
    )
    assert forced.saga.paced is not None and forced.saga.paced.held == ()
    assert forced.saga.paced.release_at is None
    assert [p.command_id for p in forced.saga.pending] == [forced.send.id]


# --- what each agency is told ------------------------------------------------------------------


def test_each_command_tells_its_agency_the_outcome_it_acts_on() -> None:
    from gateway.saga import build_command, filing_command

    short = _refunding().model_copy(update={"brief": _saga("SW-SHORTPAY65-1").brief})
    settle = build_command("forex.receipt.settle", short)
    assert isinstance(settle, SettleReceipt)
    assert settle.scenario is Scenario.SHORT_PAYMENT and settle.buyer_share == D("0.65")
    refund = build_command("tax.refund.apply", short)
    assert isinstance(refund, ApplyRefund) and refund.scenario is Scenario.HAPPY
    red = filing_command(_decl("SW-RED-1"), may_clear=True)
    assert red.declaration.scenario is Scenario.RED_CHANNEL
    assert red.declaration.reference == "SW-RED-1"
    assert filing_command(_decl("SW-STALL-TAX-1"), may_clear=True).declaration.scenario is (
        Scenario.HAPPY
    )
    plain = filing_command(_decl("PO-1"), may_clear=True)
    assert plain.declaration.scenario is None  # nothing forced: the simulation decides


def test_commands_carry_the_declarations_sandbox_clock_to_the_agencies() -> None:
    """Moved 100 days on, the saga's commands (sent, forced, or held and released) carry the
    offset; the agency's reply carries it back, and the release day is the sandbox's."""
    from datetime import UTC, date, datetime

    from gateway.saga import build_command, sandbox_day, sandbox_today
    from gateway.saga.handlers import send
    from gateway.saga.pace import release
    from schemas.envelope import reply
    from schemas.messages import GoodsReleased

    days_100 = 100 * 24 * 3600.0
    moved = shift_clock(_refunding(), days_100).model_copy(update={"released_on": "2026-08-12"})
    settle = build_command("forex.receipt.settle", moved)
    assert isinstance(settle, SettleReceipt) and settle.released_on == date(2026, 8, 12)
    _, sent = send(moved, [settle], cause=None, config=CONFIG, now=0.0)
    assert sent[0].clock_offset_s == days_100
    forced = force(moved, HELPERS_BY_NAME["refund_paid"], share=None, now=0.0, step_deadline_s=2.0)
    assert forced.send.clock_offset_s == days_100
    held = moved.model_copy(
        update={"paced": Paced(pace=Pace.STEP, held=(_step(REFUND, deadline=None),))}
    )
    [step] = release(held, now=0.0, step_deadline_s=2.0).send
    assert Envelope.model_validate_json(step.envelope).clock_offset_s == days_100
    # 12 August 2026 16:00 UTC is 13 August in Beijing; 100 days on, 21 November.
    at = datetime(2026, 8, 12, 16, 0, tzinfo=UTC)
    answer = reply(sent[0], GoodsReleased(entry_id=ENTRY), source="customs", occurred_at=at)
    assert answer.clock_offset_s == days_100
    assert sandbox_day(answer) == date(2026, 11, 21)
    assert sandbox_today(moved, at.timestamp()) == date(2026, 11, 21)


def test_a_stall_names_a_step_still_out_of_tries_once_another_answers() -> None:
    close = _step(REFUND, deadline=None).model_copy(
        update={"command_id": "cmd-close", "type": "customs.declaration.close", "agency": "customs"}
    )
    settle = _step(
        SettleReceipt(entry_id=ENTRY, amount=D("1"), currency="USD"), deadline=None
    ).model_copy(update={"attempts": 3})
    stalled_by_close = "no answer from customs to customs.declaration.close after 1 attempts"
    assert stall_reason((close, settle), stalled_by_close) == stalled_by_close
    # customs answered the close: the saga is still stalled, now by forex
    assert stall_reason((settle,), stalled_by_close) == (
        "no answer from forex to forex.receipt.settle after 3 attempts"
    )
    assert stall_reason((), stalled_by_close) is None
