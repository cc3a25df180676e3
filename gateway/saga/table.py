"""The saga's transition tables: state × event (× guard) → new state + commands, one per
direction and trade mode, readable on one screen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from gateway.saga.model import ENDED_BADLY, Brief, Saga
from schemas import messages as msg
from schemas.base import Event
from schemas.trade import (
    DeclarationData,
    Direction,
    PaymentSource,
    TradeMode,
)

Guard = Callable[[Event], bool]


def _inspection_required(event: Event) -> bool:
    """Goods to inspect, or a certificate of origin to issue."""
    return isinstance(event, msg.DeclarationAccepted) and (
        event.inspection_required or event.certificate_requested
    )


def _no_inspection(event: Event) -> bool:
    return (
        isinstance(event, msg.DeclarationAccepted)
        and not _inspection_required(event)
        and not event.clears
    )


def _customs_clears(event: Event) -> bool:
    """Customs releases and closes on its own (the filing let it: nothing held the goods)."""
    return isinstance(event, msg.DeclarationAccepted) and event.clears


def _customs_closes(event: Event) -> bool:
    return isinstance(event, msg.GoodsReleased) and event.closes


def _close_on_command(event: Event) -> bool:
    return isinstance(event, msg.GoodsReleased) and not event.closes


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
ACCEPTED, REJECTED = msg.DeclarationAccepted.TYPE, msg.DeclarationRejected.TYPE
PASSED, FAILED = msg.InspectionPassed.TYPE, msg.InspectionFailed.TYPE
RELEASED, DETAINED, CLOSED = (
    msg.GoodsReleased.TYPE,
    msg.GoodsDetained.TYPE,
    msg.DeclarationClosed.TYPE,
)
SETTLED, REGISTERED = msg.ReceiptSettled.TYPE, msg.PaymentRegistered.TYPE
PAID, DENIED, COLLECTED = msg.RefundPaid.TYPE, msg.RefundDenied.TYPE, msg.ImportTaxesCollected.TYPE
REFUSED = msg.TransactionRefused.TYPE
TAX_REFUSED, RETURNED = msg.ImportTaxesRefused.TYPE, msg.ReturnAssessed.TYPE
EXEMPTED, SUMMARISED, SUMMARISE = (
    msg.ExportExempted.TYPE,
    msg.ExportsSummarised.TYPE,
    msg.SummariseExports.TYPE,
)
INSPECT, RELEASE, DETAIN, CLOSE = (
    msg.InspectGoods.TYPE,
    msg.ReleaseGoods.TYPE,
    msg.DetainGoods.TYPE,
    msg.CloseDeclaration.TYPE,
)
SETTLE, REGISTER, REFUND, ASSESS = (
    msg.SettleReceipt.TYPE,
    msg.RegisterPayment.TYPE,
    msg.ApplyRefund.TYPE,
    msg.AssessImportTaxes.TYPE,
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

# Every export opens so: customs → (inspection) → release → closure ∥ settlement.
_EXPORT_OPENING: Final = (
    *_clearance("release_pending", RELEASE),
    CLEARS,
    *_released("closing_and_settling", SETTLE),
    T("closing_and_settling", CLOSED, "settling"),
    T("closing_and_settling", SETTLED, "closing"),
)

# Export: the opening, then refund → completed.
EXPORT: Final = (
    *_EXPORT_OPENING,
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

# 9610 export (CEB603 lists): the export opening, then the lists are summarised into a 报关单
# (CEB701 → CEB792) before the refund, which may be an exemption (无票免税).
EXPORT_9610: Final = (
    *_EXPORT_OPENING,
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
