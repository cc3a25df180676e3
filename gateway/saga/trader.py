"""What the trader files on a running declaration (a bank receipt or payment, a return): the
command each becomes (pure), and the step that files it on the saga."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from gateway import saga as sagas
from gateway.core.config import GatewayConfig
from gateway.core.errors import Invalid, NotApplicable
from gateway.saga import Saga
from gateway.saga.handlers import send
from gateway.saga.unit import SagaUnit
from schemas.api import PaymentRequest
from schemas.base import Command
from schemas.messages import RegisterPayment, RegisterReturn, SettleReceipt
from schemas.trade import Direction, PaymentSource

R = TypeVar("R")
Build = Callable[[Saga, float], tuple[Command, Saga, R]]


def _not_applicable(saga: Saga, detail: str) -> NotApplicable:
    return NotApplicable(detail, state=saga.state)


def forex_command(saga: Saga, body: PaymentRequest, on: date) -> tuple[Command, int]:
    """The command the trader's filing becomes, and the days since release (pure)."""
    decl = saga.brief
    if decl.payments is not PaymentSource.API:
        raise _not_applicable(
            saga,
            'this declaration is paid by the simulated buyer; submit it with "payments": "api" '
            "to register receipts or payments yourself",
        )
    if saga.steps.get("forex") == "not_required":
        raise _not_applicable(
            saga, "CBEC retail imports are paid to the platform in CNY: no forex registration"
        )
    if not sagas.awaits_forex(saga):
        raise _not_applicable(
            saga,
            f"no receipt or payment is awaited in state {saga.state!r} (forex step "
            f"{saga.steps.get('forex')!r}): before release, while one is pending, or after",
        )
    released = date.fromisoformat(saga.released_on or on.isoformat())
    if on < released:
        raise Invalid(
            f"received_on: {on} is before the goods were released ({released})",
            field="received_on",
            rule="forex.received_after_release",
            message=f"must be on or after {released}",
        )
    days = (on - released).days
    if saga.entry_id is None:  # released goods always have one
        raise _not_applicable(saga, "no customs entry number yet")
    common: dict[str, Any] = {
        "entry_id": saga.entry_id,
        "amount": decl.total_value,
        "currency": decl.currency,
        "declarant_uscc": decl.declarant_uscc,
        "registration_no": body.registration_no,
        "via_api": True,
    }
    if decl.direction is Direction.EXPORT:
        return SettleReceipt(
            **common,
            received=body.amount,
            days_after_export=days,
            received_on=on,
            received_currency=body.currency,
            scenario=decl.scenario,
        ), days
    return RegisterPayment(
        **common, paid=body.amount, paid_on=on, paid_currency=body.currency
    ), days


def return_command(saga: Saga, on: date) -> RegisterReturn:
    """The command a return becomes, or a 409 saying why it does not apply (pure)."""
    decl = saga.brief
    why = None
    if decl.trade_mode not in sagas.CBEC_IMPORT_MODES or decl.direction.value != "import":
        why = "only CBEC retail imports (9610 direct purchase, 1210 bonded) are returned here"
    elif saga.state != "completed" or saga.steps.get("tax") != "collected":
        why = (
            f"a return needs a completed import whose taxes were collected and not yet returned "
            f"(state {saga.state!r}, tax step {saga.steps.get('tax')!r})"
        )
    elif any(p.type == RegisterReturn.TYPE for p in saga.pending):
        why = "a return of this declaration is already being assessed"
    if why:
        raise NotApplicable(why, state=saga.state)
    return RegisterReturn(returned_on=on)


def file_on(one: SagaUnit, build: Build[R], *, config: GatewayConfig) -> tuple[Saga, R]:
    """Send the command `build` makes of the saga (it raises a GatewayError when none
    applies), remembered as a pending step, with the saga and its status change; the saga
    after, and `build`'s result."""
    now = time.time()
    command, ready, result = build(one.saga, now)
    after, envelopes = send(ready, [command], cause=None, config=config, now=now)
    agency = command.TYPE.split(".", 1)[0]
    after = after.model_copy(update={"steps": {**after.steps, agency: "pending"}})
    one.save(after, sent=envelopes, status=True, cause=envelopes[0])
    return after, result
