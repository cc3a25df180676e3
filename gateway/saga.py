"""The saga that drives a declaration: a transition table per direction and a pure `advance`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from schemas.api import Pace
from schemas.base import Command, Contract, Event
from schemas.envelope import Envelope
from schemas.messages import (
    ApplyRefund,
    AssessImportTaxes,
    CloseDeclaration,
    DeclarationAccepted,
    DeclarationClosed,
    DeclarationRejected,
    DetainGoods,
    ExportExempted,
    ExportsSummarised,
    Figures,
    FileDeclaration,
    GoodsDetained,
    GoodsReleased,
    ImportTaxesCollected,
    ImportTaxesRefused,
    InspectGoods,
    InspectionFailed,
    InspectionPassed,
    PaymentRegistered,
    ReceiptSettled,
    RefundDenied,
    RefundPaid,
    Refusal,
    RegisterPayment,
    ReleaseGoods,
    ReturnAssessed,
    SettleReceipt,
    SummariseExports,
    TransactionRefused,
    ValueLine,
)
from schemas.scenarios import Forced, forced_outcome, scenario_for
from schemas.trade import (
    DeclarationData,
    Direction,
    OriginCertificate,
    PaymentSource,
    Scenario,
    TaxFiling,
    TradeMode,
)
from schemas.units import BEIJING

TERMINAL: Final = frozenset({"completed", "rejected", "failed", "cancelled"})
ENDED_BADLY: Final = TERMINAL - {"completed"}


def sandbox_day(envelope: Envelope) -> date:
    """The Beijing day an event happened on the declaration's sandbox clock."""
    return envelope.sandbox_time(envelope.occurred_at).astimezone(BEIJING).date()


def sandbox_today(saga: Saga, now: float) -> date:
    """The Beijing day it is on the declaration's sandbox clock when the real clock shows `now`."""
    return datetime.fromtimestamp(now + saga.clock_offset_s, BEIJING).date()


class UnexpectedEvent(Exception):
    """An event the table has no row for in the saga's current state."""


# --- what the saga holds ----------------------------------------------------------------------


class PendingStep(Contract):
    """A command sent and not yet answered; re-sent unchanged when its deadline passes."""

    command_id: str
    type: str
    agency: str
    attempts: int
    deadline: float | None
    envelope: str  # as sent, less the payload fields `omitted` (gateway/filings.py)
    supersedes: tuple[str, ...] = ()  # ids of commands a test helper replaced with this one
    omitted: tuple[str, ...] = ()  # "declaration" (the filing's), "lines" (the saga's)


class Paced(Contract):
    """A declaration moving at a class's pace: the commands held back and when they go out."""

    pace: Pace
    held: tuple[PendingStep, ...] = ()
    release_at: float | None = None  # demo pace: when the held commands go out
    stage_s: float | None = None  # demo pace: seconds a stage waits (None: the setting)


class Brief(Contract):
    """What the saga decides and builds commands with, of the declaration filed. The filing
    itself is kept once, in the journal (gateway/filings.py), not in every saga write."""

    direction: Direction
    trade_mode: TradeMode
    payments: PaymentSource
    currency: str
    total_value: Decimal
    declarant_uscc: str
    counterparty_country: str
    hs_codes: tuple[str, ...]
    reference: str | None = None
    scenario: Scenario | None = None
    certificate_of_origin: OriginCertificate | None = None
    tax_filing: TaxFiling | None = None
    buyer_id: str | None = None  # CBEC retail import: the buyer's ID number (annual limit)


def brief_of(declaration: DeclarationData) -> Brief:
    """The saga's brief of a declaration."""
    return Brief(
        direction=declaration.direction,
        trade_mode=declaration.trade_mode,
        payments=declaration.payments,
        currency=declaration.currency,
        total_value=declaration.total_value,
        declarant_uscc=declaration.declarant.uscc,
        counterparty_country=declaration.counterparty_country,
        hs_codes=tuple(i.hs_code for i in declaration.items),
        reference=declaration.reference,
        scenario=declaration.scenario,
        certificate_of_origin=declaration.certificate_of_origin,
        tax_filing=declaration.tax_filing,
        buyer_id=declaration.cbec.buyer_id_number if declaration.cbec else None,
    )


class Saga(Contract):
    """Everything the gateway knows about one declaration's journey."""

    declaration_id: str
    enterprise_id: str
    brief: Brief
    state: str
    steps: dict[str, str]
    figures: Figures
    entry_id: str | None = None
    channel: str | None = None
    customs_status: str | None = None
    inspection_reason: str | None = None
    lines: tuple[ValueLine, ...] = ()
    reason: str | None = None
    failure_code: str | None = None
    stalled_reason: str | None = None
    pending: tuple[PendingStep, ...] = ()
    events_seen: int = 0
    released_on: str | None = None  # Beijing date of release: the start of a receipt's days
    paced: Paced | None = None  # None: instant, the default (gateway/dashboard/pace.py)
    # Sandbox clock: seconds this declaration's clock runs ahead of real time. Every time the
    # saga holds (deadlines, release_at) is real time; moving the clock brings them nearer.
    clock_offset_s: float = 0.0

    def model_dump_json(self, **kwargs: Any) -> str:
        """The record as written: fields at their default left out (read back, the same saga)."""
        kwargs.setdefault("exclude_defaults", True)
        return super().model_dump_json(**kwargs)


def public_status(saga: Saga) -> str:
    """The status the API shows: a terminal state, stalled, submitted or in_progress."""
    if saga.state in TERMINAL:
        return saga.state
    if saga.stalled_reason:
        return "stalled"
    return "submitted" if saga.events_seen == 0 else "in_progress"


# --- the table ---------------------------------------------------------------------------------


Guard = Callable[[Event], bool]


def _inspection_required(event: Event) -> bool:
    """Goods to inspect, or a certificate of origin to issue."""
    return isinstance(event, DeclarationAccepted) and (
        event.inspection_required or event.certificate_requested
    )


def _no_inspection(event: Event) -> bool:
    return (
        isinstance(event, DeclarationAccepted)
        and not _inspection_required(event)
        and not event.clears
    )


def _customs_clears(event: Event) -> bool:
    """Customs releases and closes on its own (the filing let it: nothing held the goods)."""
    return isinstance(event, DeclarationAccepted) and event.clears


def _customs_closes(event: Event) -> bool:
    return isinstance(event, GoodsReleased) and event.closes


def _close_on_command(event: Event) -> bool:
    return isinstance(event, GoodsReleased) and not event.closes


GUARDS: Final[dict[str, Guard]] = {
    "inspection required": _inspection_required,
    "no inspection": _no_inspection,
    "customs clears": _customs_clears,
    "customs closes": _customs_closes,
    "close on command": _close_on_command,
}


@dataclass(frozen=True)
class Transition:
    """state × event (× guard) → new state + commands.

    `expects`: events the agency sends next on its own, answering the same command (customs
    clearing by itself); that command stays pending, so a lost answer is asked for again.
    """

    state: str
    on: str
    to: str
    commands: tuple[str, ...] = ()
    when: str | None = None
    expects: tuple[str, ...] = ()


T = Transition
ACCEPTED, REJECTED = DeclarationAccepted.TYPE, DeclarationRejected.TYPE
PASSED, FAILED = InspectionPassed.TYPE, InspectionFailed.TYPE
RELEASED, DETAINED, CLOSED = GoodsReleased.TYPE, GoodsDetained.TYPE, DeclarationClosed.TYPE
SETTLED, REGISTERED = ReceiptSettled.TYPE, PaymentRegistered.TYPE
PAID, DENIED, COLLECTED = RefundPaid.TYPE, RefundDenied.TYPE, ImportTaxesCollected.TYPE
REFUSED = TransactionRefused.TYPE
TAX_REFUSED, RETURNED = ImportTaxesRefused.TYPE, ReturnAssessed.TYPE
EXEMPTED, SUMMARISED, SUMMARISE = (
    ExportExempted.TYPE,
    ExportsSummarised.TYPE,
    SummariseExports.TYPE,
)
INSPECT, RELEASE, DETAIN, CLOSE = (
    InspectGoods.TYPE,
    ReleaseGoods.TYPE,
    DetainGoods.TYPE,
    CloseDeclaration.TYPE,
)
SETTLE, REGISTER, REFUND, ASSESS = (
    SettleReceipt.TYPE,
    RegisterPayment.TYPE,
    ApplyRefund.TYPE,
    AssessImportTaxes.TYPE,
)


def _clearance(after: str, command: str) -> tuple[Transition, ...]:
    """The opening every table shares: customs review, inspection when required, detention."""
    return (
        T("customs_review", ACCEPTED, "inspection", (INSPECT,), when="inspection required"),
        T("customs_review", ACCEPTED, after, (command,), when="no inspection"),
        T("customs_review", REJECTED, "rejected"),
        T("inspection", PASSED, after, (command,)),
        T("inspection", FAILED, "detaining", (DETAIN,)),
        T("detaining", DETAINED, "failed"),
    )


def _released(to: str, *commands: str) -> tuple[Transition, ...]:
    """Goods released: customs closes on its own when the release let it, else on command."""
    return (
        T("release_pending", RELEASED, to, commands, when="customs closes", expects=(CLOSED,)),
        T("release_pending", RELEASED, to, (CLOSE, *commands), when="close on command"),
    )


# An export customs may clear by itself: accepted, released and closed come together.
CLEARS: Final = T(
    "customs_review", ACCEPTED, "release_pending", when="customs clears", expects=(RELEASED,)
)

# Export: customs → (inspection) → release → closure ∥ settlement → refund → completed.
EXPORT: Final = (
    *_clearance("release_pending", RELEASE),
    CLEARS,
    *_released("closing_and_settling", SETTLE),
    T("closing_and_settling", CLOSED, "settling"),
    T("closing_and_settling", SETTLED, "closing"),
    T("settling", SETTLED, "refunding", (REFUND,)),
    T("closing", CLOSED, "refunding", (REFUND,)),
    T("refunding", PAID, "completed"),
    T("refunding", DENIED, "completed"),
)

# Import: customs → (inspection) → taxes collected → release → closure ∥ payment registered.
IMPORT: Final = (
    *_clearance("assessing", ASSESS),
    T("assessing", COLLECTED, "release_pending", (RELEASE,)),
    *_released("closing_and_paying", REGISTER),
    T("closing_and_paying", CLOSED, "paying"),
    T("closing_and_paying", REGISTERED, "closing"),
    T("paying", REGISTERED, "completed"),
    T("closing", CLOSED, "completed"),
)

# 9610 export (CEB603 lists): as export, then the lists are summarised into a 报关单
# (CEB701 → CEB792) before the refund, which may be an exemption (无票免税).
EXPORT_9610: Final = (
    *_clearance("release_pending", RELEASE),
    CLEARS,
    *_released("closing_and_settling", SETTLE),
    T("closing_and_settling", CLOSED, "settling"),
    T("closing_and_settling", SETTLED, "closing"),
    T("settling", SETTLED, "summarising", (SUMMARISE,)),
    T("closing", CLOSED, "summarising", (SUMMARISE,)),
    T("summarising", SUMMARISED, "refunding", (REFUND,)),
    T("refunding", PAID, "completed"),
    T("refunding", DENIED, "completed"),
    T("refunding", EXEMPTED, "completed"),
)

# 9610 direct-purchase and 1210 bonded retail import (CEB621 lists, three documents matched):
# customs → (inspection) → CEB816 tax bill collected → release → closure. The buyer pays the
# platform in CNY, so no payment is registered with forex per order.
IMPORT_CBEC: Final = (
    *_clearance("assessing", ASSESS),
    T("assessing", COLLECTED, "release_pending", (RELEASE,)),
    T("assessing", TAX_REFUSED, "rejected"),  # over the buyer's annual limit (T301)
    *_released("closing"),
    T("closing", CLOSED, "completed"),
    # A return (CEB625, POST .../returns) after completion: tax refunded, quota restored.
    T("completed", RETURNED, "completed"),
)

# The default table of each direction (0110, and 9710/9810, whose 报关单 or list follows it).
TABLES: Final[dict[Direction, tuple[Transition, ...]]] = {
    Direction.EXPORT: EXPORT,
    Direction.IMPORT: IMPORT,
}

# Trade modes with a table of their own.
MODE_TABLES: Final[dict[tuple[Direction, TradeMode], tuple[Transition, ...]]] = {
    (Direction.EXPORT, TradeMode.CBEC_RETAIL): EXPORT_9610,
    (Direction.IMPORT, TradeMode.CBEC_RETAIL): IMPORT_CBEC,
    (Direction.IMPORT, TradeMode.CBEC_BONDED): IMPORT_CBEC,
}


FOREX_COMMANDS: Final = frozenset({SETTLE, REGISTER})


def _reachable(table: tuple[Transition, ...], starts: set[str]) -> set[str]:
    seen, todo = set(starts), list(starts)
    while todo:
        state = todo.pop()
        for row in table:
            if row.state == state and row.to not in seen:
                seen.add(row.to)
                todo.append(row.to)
    return seen


def by_trader(table: tuple[Transition, ...]) -> tuple[Transition, ...]:
    """A table whose receipt or payment the trader files (POST .../payments), not the saga.

    The forex commands leave the rows (the API sends them); every state that waits for forex
    may hear a refusal (e.g. F101, class C without registration) and keeps waiting; and every
    state after the first answer hears a later tranche of a partial receipt or payment.
    """
    rows = [
        T(
            r.state,
            r.on,
            r.to,
            tuple(c for c in r.commands if c not in FOREX_COMMANDS),
            r.when,
            r.expects,
        )
        for r in table
    ]
    answers = [r for r in table if r.on in (SETTLED, REGISTERED)]
    waiting = dict.fromkeys(r.state for r in answers)
    on = answers[0].on if answers else SETTLED
    after = _reachable(table, {r.to for r in answers})
    tranches = sorted(s for s in after if not any(r.state == s and r.on == on for r in table))
    return (
        *rows,
        *(T(state, REFUSED, state) for state in waiting),
        *(T(state, on, state) for state in tranches),
    )


def table_for(declaration: DeclarationData | Brief) -> tuple[Transition, ...]:
    """The table of a declaration: its trade mode's own, else its direction's; by the trader's
    payments when they come through the API."""
    key = (declaration.direction, declaration.trade_mode)
    table = MODE_TABLES.get(key, TABLES[declaration.direction])
    return by_trader(table) if declaration.payments is PaymentSource.API else table


def awaits_forex(saga: Saga) -> bool:
    """Whether the saga waits for a receipt or payment the trader files (and none is pending):
    the first one, or a later tranche of a partial one."""
    if saga.brief.payments is not PaymentSource.API or saga.state in ENDED_BADLY:
        return False
    if any(p.type in FOREX_COMMANDS for p in saga.pending):
        return False
    if saga.steps.get("forex") in ("settled", "registered"):
        return (saga.figures.forex_outstanding or 0) > 0
    return any(r.state == saga.state and r.on == REFUSED for r in table_for(saga.brief))


CBEC_IMPORT_MODES: Final = frozenset({TradeMode.CBEC_RETAIL, TradeMode.CBEC_BONDED})


# --- commands from what the saga knows ---------------------------------------------------------


def _require_entry(saga: Saga) -> str:
    if saga.entry_id is None:
        raise UnexpectedEvent("no customs entry number yet")
    return saga.entry_id


def forced(saga: Saga) -> Forced | None:
    """The outcome the declaration forces (sandbox `scenario` or magic `reference`), if any."""
    return forced_outcome(saga.brief.scenario, saga.brief.reference)


def filing_command(declaration: DeclarationData, *, may_clear: bool) -> FileDeclaration:
    """The filing command: the declaration, with the scenario customs is to act on, and
    whether customs may release and close on its own (nothing paced holds the goods)."""
    told = scenario_for(forced_outcome(declaration.scenario, declaration.reference), "customs")
    if told is not declaration.scenario:
        declaration = declaration.model_copy(update={"scenario": told})
    return FileDeclaration(declaration=declaration, may_clear=may_clear)


def build_command(type_: str, saga: Saga) -> Command:
    """The command of a type, filled in from the saga; each agency told its forced outcome."""
    decl = saga.brief
    force = forced(saga)
    if type_ == INSPECT:
        return InspectGoods(
            direction=decl.direction,
            trade_mode=decl.trade_mode,
            hs_codes=decl.hs_codes,
            reason=saga.inspection_reason or "certificate of origin requested",
            scenario=scenario_for(force, "inspection"),
            lines=saga.lines,
            physical=saga.inspection_reason is not None,
            certificate_of_origin=decl.certificate_of_origin,
            destination=decl.counterparty_country,
        )
    if type_ == RELEASE:
        return ReleaseGoods(may_close=saga.paced is None)  # a paced class sees each step
    if type_ == DETAIN:
        return DetainGoods(
            reason_code=saga.failure_code or "I300", reason=saga.reason or "inspection failed"
        )
    if type_ == CLOSE:
        return CloseDeclaration()
    if type_ == SETTLE:
        return SettleReceipt(
            entry_id=_require_entry(saga),
            released_on=date.fromisoformat(saga.released_on) if saga.released_on else None,
            amount=decl.total_value,
            currency=decl.currency,
            declarant_uscc=decl.declarant_uscc,
            scenario=scenario_for(force, "forex"),
            buyer_share=force.share if force else None,
        )
    if type_ == REGISTER:
        return RegisterPayment(
            entry_id=_require_entry(saga),
            amount=decl.total_value,
            currency=decl.currency,
            declarant_uscc=decl.declarant_uscc,
            scenario=scenario_for(force, "forex"),
        )
    if type_ == REFUND:
        return ApplyRefund(
            entry_id=_require_entry(saga),
            lines=saga.lines,
            scenario=scenario_for(force, "tax"),
            trade_mode=decl.trade_mode,
            declarant_uscc=decl.declarant_uscc,
            filing=decl.tax_filing,
            customs_closed=saga.steps.get("customs") in ("closed", "summarised"),
            forex_settled=saga.steps.get("forex") == "settled",
        )
    if type_ == ASSESS:
        return AssessImportTaxes(
            entry_id=_require_entry(saga),
            lines=saga.lines,
            trade_mode=decl.trade_mode,
            buyer_id=decl.buyer_id,
            scenario=scenario_for(force, "tax"),
        )
    if type_ == SUMMARISE:
        return SummariseExports(entry_id=_require_entry(saga), ebc_uscc=decl.declarant_uscc)
    raise ValueError(f"no builder for command {type_}")


# --- folding facts from events ------------------------------------------------------------------

STEP_OF_EVENT: Final[dict[str, tuple[str, str]]] = {
    ACCEPTED: ("customs", "accepted"),
    REJECTED: ("customs", "rejected"),
    RELEASED: ("customs", "released"),
    DETAINED: ("customs", "detained"),
    CLOSED: ("customs", "closed"),
    PASSED: ("inspection", "passed"),
    FAILED: ("inspection", "failed"),
    SETTLED: ("forex", "settled"),
    REGISTERED: ("forex", "registered"),
    PAID: ("tax", "refund_paid"),
    DENIED: ("tax", "refund_denied"),
    COLLECTED: ("tax", "collected"),
    SUMMARISED: ("customs", "summarised"),
    EXEMPTED: ("tax", "exempt"),
    REFUSED: ("forex", "refused"),
    TAX_REFUSED: ("tax", "refused"),
}


def explain(code: str, field: str | None, reason: str, reason_zh: str, rule: str | None) -> str:
    """`CODE field: reason (中文) [rule r]`: every refusal, rejection and failure reads so."""
    head = f"{code} {field}:" if field else f"{code}:"
    return f"{head} {reason} ({reason_zh})" + (f" [rule {rule}]" if rule else "")


def _refusal_reason(event: Refusal) -> str:
    return explain(event.reason_code, event.field, event.reason, event.reason_zh, event.rule)


def facts(saga: Saga, event: Event) -> dict[str, object]:
    """The fields of the saga an event changes: the facts and figures it reports."""
    update: dict[str, object] = {}
    figures = saga.figures
    if isinstance(event, DeclarationAccepted):
        update.update(
            entry_id=event.entry_id,
            channel=event.channel,
            customs_status=event.status_code,
            inspection_reason=event.inspection_reason,
            lines=event.lines,
        )
        figures = figures.model_copy(update={"customs_value_cny": event.total_value_cny})
        steps = dict(saga.steps)
        if not event.inspection_required:
            steps["inspection"] = "not_required"
        if saga.brief.trade_mode in CBEC_IMPORT_MODES:
            steps["forex"] = "not_required"  # the buyer pays the platform in CNY
        update["steps"] = steps
    elif isinstance(event, ExportsSummarised):
        # The refund and the FX records go against the summary 报关单 from now on.
        update.update(entry_id=event.entry_id, lines=event.lines)
    elif isinstance(event, DeclarationRejected):
        update.update(
            customs_status=event.status_code,
            failure_code=event.reason_code,
            reason=explain(
                event.reason_code, event.field, event.reason, event.reason_zh, event.rule
            )
            + "".join(f"; also {e.code} {e.field}" for e in event.errors[1:]),
        )
    elif isinstance(event, InspectionFailed):
        update.update(
            failure_code=event.reason_code,
            reason=explain(
                event.reason_code, event.field, event.reason, event.reason_zh, event.rule
            ),
        )
    elif isinstance(event, GoodsReleased) and saga.brief.payments is PaymentSource.API:
        update["customs_status"] = event.status_code
        if saga.steps.get("forex") == "waiting":
            update["steps"] = {**saga.steps, "forex": "awaiting_trader"}
    elif isinstance(event, GoodsReleased | GoodsDetained | DeclarationClosed):
        update["customs_status"] = event.status_code
    elif isinstance(event, ReceiptSettled | PaymentRegistered):
        earlier = (figures.settled_amount_cny or Decimal(0)) if event.tranche > 1 else Decimal(0)
        figures = figures.model_copy(
            update={
                "settled_amount_cny": earlier + event.amount_cny,
                "forex_outstanding": event.outstanding,
            }
        )
        if isinstance(event, ReceiptSettled) and event.reason_code == "F201":
            update["reason"] = (
                f"F201 short receipt: {event.received_total or event.amount} {event.currency} "
                f"received of {event.declared}, {event.outstanding} outstanding (收汇不足)"
            )
        elif event.tranche > 1 and not event.outstanding and (saga.reason or "").startswith("F201"):
            update["reason"] = None  # a later tranche settled the balance
    elif isinstance(event, ImportTaxesRefused):
        update.update(failure_code=event.reason_code, reason=_refusal_reason(event))
    elif isinstance(event, ReturnAssessed):
        figures = figures.model_copy(update={"tax_refunded": event.tax_refunded})
        if event.reason_code:
            update["reason"] = (
                f"{event.reason_code} returned_on: {event.reason} ({event.reason_zh})"
            )
    elif isinstance(event, TransactionRefused):
        update["reason"] = _refusal_reason(event)
    elif isinstance(event, RefundPaid):
        figures = figures.model_copy(update={"refund": event.refund.amount})
    elif isinstance(event, ExportExempted):
        figures = figures.model_copy(
            update={"refund": Decimal(0), "exempt_value": event.exempt_value}
        )
    elif isinstance(event, RefundDenied):
        figures = figures.model_copy(update={"refund": Decimal(0)})
        update["reason"] = "refund denied: " + explain(
            event.reason_code, event.field, event.reason, event.reason_zh, event.rule
        )
    elif isinstance(event, ImportTaxesCollected):
        figures = figures.model_copy(
            update={
                "duty": event.duty.amount,
                "consumption_tax": event.consumption_tax.amount,
                "import_vat": event.vat.amount,
                "taxes_total": event.total,
            }
        )
    step = STEP_OF_EVENT.get(event.TYPE)
    if isinstance(event, ReturnAssessed):
        step = ("tax", "returned" if event.within_window else "return_refused")
    steps = dict(update.get("steps", saga.steps))  # type: ignore[call-overload]
    if step:
        steps[step[0]] = step[1]
    update.update(steps=steps, figures=figures)
    return update


# --- advancing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Advance:
    """The saga after an event, and the commands to send."""

    saga: Saga
    commands: tuple[Command, ...]


def start(
    declaration_id: str,
    enterprise_id: str,
    declaration: DeclarationData,
    *,
    paced: Paced | None = None,
) -> Advance:
    """A new saga waiting for customs (at a class's pace, if `paced`), and the filing command."""
    saga = Saga(
        declaration_id=declaration_id,
        enterprise_id=enterprise_id,
        brief=brief_of(declaration),
        state="customs_review",
        steps={"customs": "pending", "inspection": "waiting", "forex": "waiting", "tax": "waiting"},
        figures=Figures(declared_value=declaration.total_value, currency=declaration.currency),
        paced=paced,
    )
    return Advance(saga, (filing_command(declaration, may_clear=paced is None),))


def transition_for(saga: Saga, event: Event) -> Transition:
    """The row of the table that applies, or UnexpectedEvent."""
    for row in table_for(saga.brief):
        if (
            row.state == saga.state
            and row.on == event.TYPE
            and (row.when is None or GUARDS[row.when](event))
        ):
            return row
    raise UnexpectedEvent(f"no transition from state {saga.state!r} on {event.TYPE}")


def advance(saga: Saga, envelope: Envelope) -> Advance:
    """Apply one event: resolve its pending step, fold its facts, move state, name the commands."""
    event = envelope.payload
    if not isinstance(event, Event):
        raise UnexpectedEvent(f"{envelope.type} is not an event")
    row = transition_for(saga, event)
    answered = envelope.causation_id
    # A command whose agency goes on by itself stays pending until its last answer.
    pending = (
        saga.pending
        if row.expects
        else tuple(
            p for p in saga.pending if p.command_id != answered and answered not in p.supersedes
        )
    )
    # The event's facts and the move in one copy of the saga (each copy costs as much as
    # the table look-up and the facts together).
    update = facts(saga, event)
    update.update(
        state=row.to,
        pending=pending,
        # Still stalled while any step that ran out of tries (deadline None) is unanswered,
        # and the reason names one of those, not the step that has just answered.
        stalled_reason=stall_reason(pending, saga.stalled_reason),
        events_seen=saga.events_seen + 1,
    )
    if isinstance(event, GoodsReleased):
        update["released_on"] = sandbox_day(envelope).isoformat()
    moved = saga.model_copy(update=update)
    commands = tuple(build_command(c, moved) for c in row.commands)
    busy = [c.TYPE for c in commands] + list(row.expects)
    if busy:
        steps = dict(moved.steps)
        for type_ in busy:
            steps[type_.split(".", 1)[0]] = "pending"
        moved = moved.model_copy(update={"steps": steps})
    return Advance(moved, commands)


# --- deadlines -----------------------------------------------------------------------------------


MAX_BACKOFF_FACTOR: Final = 16


def _no_answer(step: PendingStep) -> str:
    return f"no answer from {step.agency} to {step.type} after {step.attempts} attempts"


def stall_reason(pending: tuple[PendingStep, ...], reason: str | None) -> str | None:
    """Why a saga is stalled: the reason it has if a step out of tries still waits, else
    one of the waiting steps out of tries; None when none is left."""
    exhausted = [p for p in pending if p.deadline is None]
    if not exhausted:
        return None
    if reason is not None and any(reason == _no_answer(p) for p in exhausted):
        return reason
    return _no_answer(exhausted[-1])


def backoff_s(base_s: float, attempts: int, command_id: str) -> float:
    """Seconds until the next try: base × 2^(attempts−1) (at most ×16), plus up to 20% jitter.

    The jitter is drawn from the command id, so the same saga always waits the same.
    """
    digest = hashlib.sha256(f"{command_id}|{attempts}".encode()).digest()
    jitter = digest[0] / 255 * 0.2
    return float(base_s * min(2 ** (attempts - 1), MAX_BACKOFF_FACTOR) * (1 + jitter))


def next_deadline(saga: Saga) -> float | None:
    """The earliest deadline among the pending steps, or None."""
    deadlines = [p.deadline for p in saga.pending if p.deadline is not None]
    if saga.paced is not None and saga.paced.release_at is not None:
        deadlines.append(saga.paced.release_at)  # the watcher releases demo-paced commands
    return min(deadlines) if deadlines and saga.state not in TERMINAL else None


@dataclass(frozen=True)
class Expiry:
    """What passing deadlines do: commands to send again, and whether the saga stalled."""

    saga: Saga
    resend: tuple[PendingStep, ...]
    stalled: bool


def expire(saga: Saga, *, now: float, base_s: float, max_attempts: int) -> Expiry:
    """Re-send every step past its deadline; after the last try mark the saga stalled."""
    resend: list[PendingStep] = []
    pending: list[PendingStep] = []
    stalled_reason = saga.stalled_reason
    for step in saga.pending:
        if step.deadline is None or step.deadline > now:
            pending.append(step)
        elif step.attempts >= max_attempts:
            stalled_reason = _no_answer(step)
            pending.append(step.model_copy(update={"deadline": None}))
        else:
            attempts = step.attempts + 1
            again = step.model_copy(
                update={
                    "attempts": attempts,
                    "deadline": now + backoff_s(base_s, attempts, step.command_id),
                }
            )
            pending.append(again)
            resend.append(again)
    became_stalled = stalled_reason is not None and saga.stalled_reason is None
    updated = saga.model_copy(update={"pending": tuple(pending), "stalled_reason": stalled_reason})
    return Expiry(updated, tuple(resend), became_stalled)


def shift_clock(saga: Saga, seconds: float) -> Saga:
    """The saga with its sandbox clock `seconds` on: all it waits for comes that much sooner."""
    pending = tuple(
        p if p.deadline is None else p.model_copy(update={"deadline": p.deadline - seconds})
        for p in saga.pending
    )
    paced = saga.paced
    if paced is not None and paced.release_at is not None:
        paced = paced.model_copy(update={"release_at": paced.release_at - seconds})
    return saga.model_copy(
        update={
            "pending": pending,
            "paced": paced,
            "clock_offset_s": saga.clock_offset_s + seconds,
        }
    )


class NotStalled(ValueError):
    """An operator asked to retry a declaration that is not stalled."""


class AlreadyEnded(ValueError):
    """An operator asked to cancel a declaration that has already ended."""


def retry_stalled(saga: Saga, *, now: float, base_s: float) -> Expiry:
    """An operator's retry: every step that ran out of tries gets a fresh set, sent now."""
    if not saga.stalled_reason or saga.state in TERMINAL:
        raise NotStalled(f"declaration {saga.declaration_id} is not stalled")
    resend: list[PendingStep] = []
    pending: list[PendingStep] = []
    for step in saga.pending:
        if step.deadline is None:
            step = step.model_copy(
                update={"attempts": 1, "deadline": now + backoff_s(base_s, 1, step.command_id)}
            )
            resend.append(step)
        pending.append(step)
    updated = saga.model_copy(update={"pending": tuple(pending), "stalled_reason": None})
    return Expiry(updated, tuple(resend), False)


def cancel(saga: Saga, *, reason: str) -> Saga:
    """An operator's cancel: the declaration ends `cancelled`; nothing more is sent or awaited."""
    if saga.state in TERMINAL:
        raise AlreadyEnded(f"declaration {saga.declaration_id} has already ended ({saga.state})")
    return saga.model_copy(
        update={"state": "cancelled", "pending": (), "stalled_reason": None, "reason": reason}
    )
