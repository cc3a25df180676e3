"""The gateway saga: the transition tables walked row by row, paths, pending steps, deadlines."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from gateway import saga as sagas
from gateway.saga import (
    EXPORT,
    IMPORT,
    TERMINAL,
    PendingStep,
    Saga,
    Transition,
    advance,
    backoff_s,
    expire,
    next_deadline,
    public_status,
    start,
)
from schemas.base import Event, Payload
from schemas.envelope import Envelope, new_envelope
from schemas.messages import (
    ApplyRefund,
    AssessImportTaxes,
    CloseDeclaration,
    DeclarationAccepted,
    DeclarationClosed,
    DeclarationRejected,
    DetainGoods,
    Explained,
    FileDeclaration,
    GoodsDetained,
    GoodsReleased,
    ImportTaxesCollected,
    InspectGoods,
    InspectionFailed,
    InspectionPassed,
    PaymentRegistered,
    ReceiptSettled,
    RefundDenied,
    RefundPaid,
    RegisterPayment,
    ReleaseGoods,
    SettleReceipt,
    ValueLine,
)
from schemas.trade import DeclarationData, Direction, Scenario
from tests.unit.builders import declaration, guarded, item

D = Decimal
ENTRY = "531620250000000001"
PHONES = declaration(item("8517130000", "100", "120.00"))  # USD 12,000.00
PERFUME = declaration(
    item("3303000000", "10", "50.00", origin="FRA"),
    direction=Direction.IMPORT,
    currency="EUR",
    counterparty="FRA",
)  # EUR 500.00
PHONE_LINES = (ValueLine(hs_code="8517130000", value_cny=D("85200.00")),)  # 12,000 × 7.1000
PERFUME_LINES = (ValueLine(hs_code="3303000000", value_cny=D("3850.00")),)  # 500 × 7.7000


# --- events that satisfy each row ------------------------------------------------------------------


def _accepted(*, inspection: bool, lines: tuple[ValueLine, ...] = PHONE_LINES) -> Event:
    return DeclarationAccepted(
        entry_id=ENTRY,
        channel="red" if inspection else "green",
        inspection_required=inspection,
        inspection_reason="red channel: physical inspection selected by risk targeting"
        if inspection
        else None,
        fx_rate=D("7.1000"),
        lines=lines,
        total_value_cny=sum((line.value_cny for line in lines), D(0)),
    )


def _refund_paid() -> Event:
    """85,200.00 × 13% = 11,076.00."""
    explained = Explained(
        amount=D("11076.00"), base=D("85200.00"), rate=D("0.13"), formula="HS 8517130000"
    )
    return RefundPaid(
        refund=explained.model_copy(update={"rate": D("0.1300"), "formula": "sum"}),
        lines=(explained,),
    )


def _taxes_collected() -> Event:
    """CNY 3,850.00 perfume: duty 5% = 192.50;
    CT = (3,850 + 192.50) / 0.85 × 0.15 = 713.382… → 713.38;
    VAT = (3,850 + 192.50 + 713.38) × 0.13 = 618.2644 → 618.26; total 1,524.14.
    """
    return ImportTaxesCollected(
        duty=Explained(amount=D("192.50"), base=D("3850.00"), rate=D("0.05"), formula="duty"),
        consumption_tax=Explained(
            amount=D("713.38"), base=D("4042.50"), rate=D("0.15"), formula="CT"
        ),
        vat=Explained(amount=D("618.26"), base=D("4755.88"), rate=D("0.13"), formula="VAT"),
        total=D("1524.14"),
    )


EVENTS: dict[str, Callable[[], Event]] = {
    DeclarationAccepted.TYPE: lambda: _accepted(inspection=False),
    DeclarationRejected.TYPE: lambda: DeclarationRejected(
        reason_code="C101",
        field="items[0].hs_code",
        reason="chapter 93: licence needed",
        reason_zh="第93章商品须申领许可证",
    ),
    InspectionPassed.TYPE: lambda: InspectionPassed(certificate_no="4403E000000000001"),
    InspectionFailed.TYPE: lambda: InspectionFailed(
        reason_code="I301", reason="labelling", reason_zh="标签不符合要求"
    ),
    GoodsReleased.TYPE: lambda: GoodsReleased(entry_id=ENTRY),
    GoodsDetained.TYPE: lambda: GoodsDetained(
        entry_id=ENTRY, reason_code="I301", reason="labelling"
    ),
    DeclarationClosed.TYPE: lambda: DeclarationClosed(entry_id=ENTRY),
    ReceiptSettled.TYPE: lambda: ReceiptSettled(
        amount=D("12000.00"), currency="USD", rate=D("7.0950"), amount_cny=D("85140.00")
    ),
    PaymentRegistered.TYPE: lambda: PaymentRegistered(
        amount=D("500.00"), currency="EUR", rate=D("7.6880"), amount_cny=D("3844.00")
    ),
    RefundPaid.TYPE: _refund_paid,
    RefundDenied.TYPE: lambda: RefundDenied(
        reason_code="T202", reason="0% refund rate", reason_zh="商品出口退税率为零"
    ),
    ImportTaxesCollected.TYPE: _taxes_collected,
}


def _event_for(row: Transition) -> Event:
    if row.on == DeclarationAccepted.TYPE and row.when is not None:
        return guarded(row.when, _accepted(inspection=row.when == "inspection required"))
    return guarded(row.when, EVENTS[row.on]())


def _envelope(event: Payload, causation_id: str | None = None) -> Envelope:
    return new_envelope(event, declaration_id="d-1", source="test", causation_id=causation_id)


def _decl(direction: Direction) -> DeclarationData:
    return PHONES if direction is Direction.EXPORT else PERFUME


def _saga_in(state: str, direction: Direction) -> Saga:
    """A saga in `state` holding the facts customs would have reported by then."""
    begun = start("d-1", "ent-1", _decl(direction)).saga
    if state == "customs_review":
        return begun
    lines = PHONE_LINES if direction is Direction.EXPORT else PERFUME_LINES
    return begun.model_copy(
        update={"state": state, "entry_id": ENTRY, "lines": lines, "events_seen": 1}
    )


def _feed(saga: Saga, event: Event, causation_id: str | None = None) -> sagas.Advance:
    return advance(saga, _envelope(event, causation_id))


def _row_id(direction: Direction, row: Transition) -> str:
    guard = f"[{row.when}]" if row.when else ""
    return f"{direction.value}:{row.state}+{row.on}{guard}->{row.to}"


ROWS = [(Direction.EXPORT, row) for row in EXPORT] + [(Direction.IMPORT, row) for row in IMPORT]


# --- the table, row by row -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "row"), [pytest.param(d, r, id=_row_id(d, r)) for d, r in ROWS]
)
def test_every_table_row_moves_the_saga_and_sends_its_commands(
    direction: Direction, row: Transition
) -> None:
    # The command the event answers: resolved, unless its agency goes on by itself.
    asked = _pending("cmd-asked", "customs.declaration.file")
    before = _saga_in(row.state, direction).model_copy(update={"pending": (asked,)})
    step = _feed(before, _event_for(row), causation_id=asked.command_id)
    assert step.saga.state == row.to
    assert tuple(c.TYPE for c in step.commands) == row.commands
    assert step.saga.events_seen == before.events_seen + 1
    for type_ in (*row.commands, *row.expects):
        assert step.saga.steps[type_.split(".", 1)[0]] == "pending"
    assert (asked in step.saga.pending) is bool(row.expects)
    assert public_status(step.saga) == (row.to if row.to in TERMINAL else "in_progress")


def _states(table: tuple[Transition, ...]) -> set[str]:
    return {r.state for r in table} | {r.to for r in table}


@pytest.mark.parametrize(
    ("direction", "table"), [(Direction.EXPORT, EXPORT), (Direction.IMPORT, IMPORT)]
)
def test_every_pair_without_a_row_raises_unexpected_event(
    direction: Direction, table: tuple[Transition, ...]
) -> None:
    handled = {(r.state, r.on) for r in table}
    checked = 0
    for state in _states(table):
        for type_, make in EVENTS.items():
            if (state, type_) in handled:
                continue
            with pytest.raises(sagas.UnexpectedEvent, match="no transition from state"):
                _feed(_saga_in(state, direction), make())
            checked += 1
    assert checked > 50  # most pairs are unexpected


def test_a_command_is_not_an_event_for_the_saga() -> None:
    with pytest.raises(sagas.UnexpectedEvent, match="is not an event"):
        advance(_saga_in("customs_review", Direction.EXPORT), _envelope(ReleaseGoods()))


@pytest.mark.parametrize(
    ("direction", "table"), [(Direction.EXPORT, EXPORT), (Direction.IMPORT, IMPORT)]
)
def test_tables_have_no_dead_ends_and_no_ambiguous_rows(
    direction: Direction, table: tuple[Transition, ...]
) -> None:
    for state in _states(table) - TERMINAL:
        assert any(r.state == state for r in table), f"{state} has no way out"
    assert not any(r.state in TERMINAL for r in table)
    keys = [(r.state, r.on, r.when) for r in table]
    assert len(keys) == len(set(keys))
    assert {r.when for r in table if r.when} <= set(sagas.GUARDS)


# --- whole paths ---------------------------------------------------------------------------------


def test_happy_export_path_runs_from_filing_to_completed_with_its_figures() -> None:
    begun = start("d-1", "ent-1", PHONES)
    assert [type(c) for c in begun.commands] == [FileDeclaration]
    saga = begun.saga
    assert (saga.state, public_status(saga)) == ("customs_review", "submitted")
    assert saga.figures.declared_value == D("12000.00")  # 100 × 120.00

    step = _feed(saga, _accepted(inspection=False))
    assert [type(c) for c in step.commands] == [ReleaseGoods]
    assert step.saga.figures.customs_value_cny == D("85200.00")  # 12,000 × 7.1000
    assert step.saga.steps["inspection"] == "not_required"
    assert (step.saga.entry_id, step.saga.channel, step.saga.customs_status) == (
        ENTRY,
        "green",
        "120",
    )

    step = _feed(step.saga, GoodsReleased(entry_id=ENTRY))
    assert [type(c) for c in step.commands] == [CloseDeclaration, SettleReceipt]
    settle = step.commands[1]
    assert isinstance(settle, SettleReceipt)
    assert (settle.entry_id, settle.amount, settle.currency) == (ENTRY, D("12000.00"), "USD")
    assert step.saga.customs_status == "800"

    step = _feed(step.saga, DeclarationClosed(entry_id=ENTRY))
    assert (step.saga.state, step.commands) == ("settling", ())

    step = _feed(step.saga, EVENTS[ReceiptSettled.TYPE]())
    assert step.saga.figures.settled_amount_cny == D("85140.00")  # 12,000 × 7.0950
    (refund,) = step.commands
    assert isinstance(refund, ApplyRefund)
    assert (refund.entry_id, refund.lines, refund.scenario) == (ENTRY, PHONE_LINES, None)

    step = _feed(step.saga, _refund_paid())
    done = step.saga
    assert (done.state, public_status(done), step.commands) == ("completed", "completed", ())
    assert done.figures.refund == D("11076.00")  # 85,200 × 13%
    assert done.figures.customs_value_cny == D("85200.00")
    assert done.steps == {
        "customs": "closed",
        "inspection": "not_required",
        "forex": "settled",
        "tax": "refund_paid",
    }
    assert done.customs_status == "899"
    assert done.events_seen == 5
    assert next_deadline(done) is None


def test_happy_import_path_absorbs_the_taxes_and_the_payment() -> None:
    saga = start("d-1", "ent-1", PERFUME).saga
    step = _feed(saga, _accepted(inspection=False, lines=PERFUME_LINES))
    (assess,) = step.commands
    assert isinstance(assess, AssessImportTaxes)
    assert (assess.entry_id, assess.lines) == (ENTRY, PERFUME_LINES)

    step = _feed(step.saga, _taxes_collected())
    assert [type(c) for c in step.commands] == [ReleaseGoods]
    figures = step.saga.figures
    assert (figures.duty, figures.consumption_tax, figures.import_vat, figures.taxes_total) == (
        D("192.50"),
        D("713.38"),
        D("618.26"),
        D("1524.14"),  # 192.50 + 713.38 + 618.26
    )

    step = _feed(step.saga, GoodsReleased(entry_id=ENTRY))
    assert [type(c) for c in step.commands] == [CloseDeclaration, RegisterPayment]
    register = step.commands[1]
    assert isinstance(register, RegisterPayment)
    assert (register.amount, register.currency) == (D("500.00"), "EUR")

    step = _feed(step.saga, EVENTS[PaymentRegistered.TYPE]())
    assert step.saga.figures.settled_amount_cny == D("3844.00")  # 500 × 7.6880
    step = _feed(step.saga, DeclarationClosed(entry_id=ENTRY))
    assert public_status(step.saga) == "completed"
    assert step.saga.steps["forex"] == "registered"


def test_failed_inspection_detains_the_goods_with_the_inspection_reason() -> None:
    decl = PHONES.model_copy(update={"scenario": Scenario.INSPECTION_FAIL})
    step = _feed(start("d-1", "ent-1", decl).saga, _accepted(inspection=True))
    (inspect,) = step.commands
    assert isinstance(inspect, InspectGoods)
    assert inspect.reason.startswith("red channel")
    assert inspect.scenario is Scenario.INSPECTION_FAIL
    assert inspect.hs_codes == ("8517130000",)
    assert step.saga.steps["inspection"] == "pending"

    step = _feed(step.saga, EVENTS[InspectionFailed.TYPE]())
    (detain,) = step.commands
    assert isinstance(detain, DetainGoods)
    assert detain.reason_code == "I301"
    assert detain.reason == "I301: labelling (标签不符合要求)"

    step = _feed(step.saga, EVENTS[GoodsDetained.TYPE]())
    assert (step.saga.state, public_status(step.saga)) == ("failed", "failed")
    assert step.saga.failure_code == "I301"


def test_rejection_ends_the_saga_with_the_reason_naming_the_field() -> None:
    step = _feed(start("d-1", "ent-1", PHONES).saga, EVENTS[DeclarationRejected.TYPE]())
    assert public_status(step.saga) == "rejected"
    assert step.saga.reason == (
        "C101 items[0].hs_code: chapter 93: licence needed (第93章商品须申领许可证)"
    )
    assert step.saga.customs_status == "100"
    assert step.commands == ()


def test_denied_refund_completes_with_a_zero_refund_and_the_reason() -> None:
    step = _feed(_saga_in("refunding", Direction.EXPORT), EVENTS[RefundDenied.TYPE]())
    assert public_status(step.saga) == "completed"
    assert step.saga.figures.refund == D("0")
    assert step.saga.reason == "refund denied: T202: 0% refund rate (商品出口退税率为零)"


# --- pending steps -------------------------------------------------------------------------------


def _pending(
    command_id: str, type_: str, *, attempts: int = 1, deadline: float | None = 100.0
) -> PendingStep:
    return PendingStep(
        command_id=command_id,
        type=type_,
        agency=type_.split(".", 1)[0],
        attempts=attempts,
        deadline=deadline,
        envelope="{}",
    )


CLOSE_STEP = _pending("cmd-close", CloseDeclaration.TYPE)
SETTLE_STEP = _pending("cmd-settle", SettleReceipt.TYPE, deadline=150.0)


def test_answer_removes_the_pending_step_it_was_caused_by() -> None:
    saga = _saga_in("closing_and_settling", Direction.EXPORT).model_copy(
        update={"pending": (CLOSE_STEP, SETTLE_STEP)}
    )
    step = _feed(saga, DeclarationClosed(entry_id=ENTRY), causation_id="cmd-close")
    assert step.saga.pending == (SETTLE_STEP,)
    assert next_deadline(step.saga) == 150.0


def test_answer_caused_by_something_else_leaves_the_pending_steps() -> None:
    saga = _saga_in("closing_and_settling", Direction.EXPORT).model_copy(
        update={"pending": (CLOSE_STEP, SETTLE_STEP)}
    )
    step = _feed(saga, DeclarationClosed(entry_id=ENTRY), causation_id="cmd-other")
    assert step.saga.pending == (CLOSE_STEP, SETTLE_STEP)


def test_next_deadline_is_the_earliest_and_none_once_terminal() -> None:
    saga = _saga_in("closing_and_settling", Direction.EXPORT).model_copy(
        update={
            "pending": (
                SETTLE_STEP,
                CLOSE_STEP,
                _pending("x", CloseDeclaration.TYPE, deadline=None),
            )
        }
    )
    assert next_deadline(saga) == 100.0
    assert next_deadline(saga.model_copy(update={"state": "completed"})) is None
    assert next_deadline(saga.model_copy(update={"pending": ()})) is None


# --- deadlines -----------------------------------------------------------------------------------


def _waiting(*steps: PendingStep) -> Saga:
    return start("d-1", "ent-1", PHONES).saga.model_copy(update={"pending": steps})


FILE_STEP = _pending("cmd-file", FileDeclaration.TYPE)


def test_step_before_its_deadline_is_left_alone() -> None:
    expiry = expire(_waiting(FILE_STEP), now=99.9, base_s=2.0, max_attempts=3)
    assert expiry.resend == ()
    assert expiry.saga.pending == (FILE_STEP,)
    assert expiry.stalled is False


def test_step_past_its_deadline_is_resent_with_a_doubled_deadline() -> None:
    """Second attempt waits base × 2^(2−1) = 2 × 2 = 4 s, plus at most 20% jitter (≤ 4.8 s)."""
    expiry = expire(_waiting(FILE_STEP), now=100.0, base_s=2.0, max_attempts=3)
    (again,) = expiry.resend
    assert again.command_id == "cmd-file" and again.envelope == FILE_STEP.envelope
    assert again.attempts == 2
    assert again.deadline is not None
    assert 4.0 <= again.deadline - 100.0 <= 4.8
    assert again.deadline == 100.0 + backoff_s(2.0, 2, "cmd-file")
    assert expiry.saga.pending == (again,)
    assert expiry.stalled is False


def test_resends_wait_longer_each_time_up_to_the_cap() -> None:
    """base 2 s: attempt 2 → 4 s, 3 → 8 s, 4 → 16 s, 5 → 32 s, then capped at 2 × 16 = 32 s;
    each with up to 20% jitter, so 2× growth always beats the jitter.
    """
    saga = _waiting(FILE_STEP)
    waits = []
    for attempt in range(2, 9):
        now = saga.pending[0].deadline
        assert now is not None
        expiry = expire(saga, now=now, base_s=2.0, max_attempts=10)
        (again,) = expiry.resend
        assert again.attempts == attempt
        assert again.deadline is not None
        wait = again.deadline - now
        factor = min(2 ** (attempt - 1), sagas.MAX_BACKOFF_FACTOR)
        assert 2.0 * factor <= wait <= 2.0 * factor * 1.2
        waits.append(wait)
        saga = expiry.saga
    assert waits[0] < waits[1] < waits[2] < waits[3]  # attempts 2-5 grow
    assert all(w <= 2.0 * sagas.MAX_BACKOFF_FACTOR * 1.2 for w in waits[4:])


def test_backoff_jitter_is_fixed_by_the_command_id() -> None:
    assert backoff_s(2.0, 3, "cmd-a") == backoff_s(2.0, 3, "cmd-a")
    assert 8.0 <= backoff_s(2.0, 3, "cmd-a") <= 9.6  # 2 × 2^2 × (1 + ≤ 0.2)


def test_step_out_of_attempts_stalls_the_saga_naming_the_agency() -> None:
    last_try = _pending("cmd-file", FileDeclaration.TYPE, attempts=3)
    expiry = expire(_waiting(last_try), now=100.0, base_s=2.0, max_attempts=3)
    assert expiry.stalled is True
    assert expiry.resend == ()
    assert expiry.saga.stalled_reason == (
        "no answer from customs to customs.declaration.file after 3 attempts"
    )
    (kept,) = expiry.saga.pending
    assert kept.deadline is None and kept.attempts == 3
    assert public_status(expiry.saga) == "stalled"
    assert next_deadline(expiry.saga) is None

    again = expire(expiry.saga, now=10_000.0, base_s=2.0, max_attempts=3)
    assert (again.stalled, again.resend) == (False, ())  # reported once


def test_three_attempts_are_made_before_the_saga_stalls() -> None:
    saga, sent = _waiting(FILE_STEP), 1
    for _ in range(10):
        now = saga.pending[0].deadline
        if now is None:
            break
        expiry = expire(saga, now=now, base_s=2.0, max_attempts=3)
        sent += len(expiry.resend)
        saga = expiry.saga
    assert sent == 3
    assert saga.stalled_reason is not None and "customs" in saga.stalled_reason


def test_only_the_overdue_step_is_resent() -> None:
    expiry = expire(_waiting(CLOSE_STEP, SETTLE_STEP), now=120.0, base_s=2.0, max_attempts=3)
    assert [s.command_id for s in expiry.resend] == ["cmd-close"]
    assert expiry.saga.pending[1] == SETTLE_STEP


def test_late_answer_to_the_stalled_step_heals_the_saga() -> None:
    saga = _saga_in("closing_and_settling", Direction.EXPORT).model_copy(
        update={"pending": (_pending("cmd-close", CloseDeclaration.TYPE, attempts=3),)}
    )
    stalled = expire(saga, now=200.0, base_s=2.0, max_attempts=3).saga
    assert public_status(stalled) == "stalled"
    step = _feed(stalled, DeclarationClosed(entry_id=ENTRY), causation_id="cmd-close")
    assert step.saga.pending == ()
    assert public_status(step.saga) == "in_progress"


def test_a_stall_survives_an_answer_from_another_agency() -> None:
    """Forex never answers SettleReceipt; customs' late DeclarationClosed must not hide that."""
    saga = _saga_in("closing_and_settling", Direction.EXPORT).model_copy(
        update={
            "pending": (
                _pending("cmd-close", CloseDeclaration.TYPE, deadline=10_000.0),
                _pending("cmd-settle", SettleReceipt.TYPE, attempts=3),
            )
        }
    )
    stalled = expire(saga, now=200.0, base_s=2.0, max_attempts=3).saga
    assert stalled.stalled_reason is not None and "forex" in stalled.stalled_reason
    step = _feed(stalled, DeclarationClosed(entry_id=ENTRY), causation_id="cmd-close")
    assert [p.command_id for p in step.saga.pending] == ["cmd-settle"]
    assert public_status(step.saga) == "stalled"


# --- public status -------------------------------------------------------------------------------


def test_public_status_is_submitted_before_any_event() -> None:
    assert public_status(start("d-1", "ent-1", PHONES).saga) == "submitted"


def test_public_status_is_in_progress_after_an_event() -> None:
    step = _feed(start("d-1", "ent-1", PHONES).saga, _accepted(inspection=False))
    assert public_status(step.saga) == "in_progress"


def test_public_status_is_stalled_even_before_any_event() -> None:
    saga = start("d-1", "ent-1", PHONES).saga.model_copy(update={"stalled_reason": "no answer"})
    assert public_status(saga) == "stalled"


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_public_status_of_a_terminal_state_is_the_state(state: str) -> None:
    saga = _saga_in(state, Direction.EXPORT).model_copy(update={"stalled_reason": "stale"})
    assert public_status(saga) == state


def test_terminal_states_are_the_four_documented_ones() -> None:
    assert frozenset({"completed", "rejected", "failed", "cancelled"}) == TERMINAL


def test_operator_retry_gives_only_the_exhausted_step_fresh_tries() -> None:
    """close ran out after 3 tries, settle is still waiting: only close goes again, attempt 1,
    due at now + base (2 s, with up to 20% jitter)."""
    saga = _waiting(_pending("cmd-close", CloseDeclaration.TYPE, attempts=3), SETTLE_STEP)
    stalled = expire(saga, now=120.0, base_s=2.0, max_attempts=3).saga
    assert public_status(stalled) == "stalled"
    retried = sagas.retry_stalled(stalled, now=500.0, base_s=2.0)
    assert [s.command_id for s in retried.resend] == ["cmd-close"]
    (again,) = retried.resend
    assert again.attempts == 1
    assert again.deadline is not None and 502.0 <= again.deadline <= 502.4
    assert retried.saga.pending[1] == SETTLE_STEP
    assert retried.saga.stalled_reason is None
    assert public_status(retried.saga) != "stalled"


def test_operator_retry_refuses_a_declaration_that_is_not_stalled() -> None:
    with pytest.raises(sagas.NotStalled):
        sagas.retry_stalled(_waiting(FILE_STEP), now=1.0, base_s=2.0)


def test_operator_cancel_ends_the_saga_and_forgets_its_steps() -> None:
    cancelled = sagas.cancel(_waiting(CLOSE_STEP, SETTLE_STEP), reason="duplicate filing")
    assert (cancelled.state, cancelled.reason, cancelled.pending) == (
        "cancelled",
        "duplicate filing",
        (),
    )
    assert public_status(cancelled) == "cancelled"
    assert next_deadline(cancelled) is None
    with pytest.raises(sagas.AlreadyEnded):
        sagas.cancel(cancelled, reason="again")
