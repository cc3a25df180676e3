"""What the saga holds: the saga record, its pending steps and brief, its public status."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from schemas.api import Pace
from schemas.base import Contract
from schemas.envelope import Envelope
from schemas.messages import (
    Figures,
    ValueLine,
)
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
