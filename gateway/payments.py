"""The trader files an export receipt or import payment with the bank through the API."""

# No `from __future__ import annotations`: FastAPI must see the closure dependencies at def time.

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response

from gateway import saga as sagas
from gateway.filing import Filings
from gateway.handlers import GatewayConfig
from gateway.saga import Saga
from schemas.api import PaymentFiled, PaymentRequest
from schemas.base import Command
from schemas.messages import RegisterPayment, SettleReceipt
from schemas.trade import Direction, PaymentSource
from services.common.problems import Problem
from services.common.runtime import Runtime


def _not_applicable(saga: Saga, detail: str) -> Problem:
    return Problem(409, "not-applicable", "Not applicable", detail, state=saga.state)


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
        raise Problem(
            422,
            "validation",
            "Invalid request",
            f"received_on: {on} is before the goods were released ({released})",
            errors=[
                {
                    "field": "received_on",
                    "rule": "forex.received_after_release",
                    "message": f"must be on or after {released}",
                }
            ],
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


def payments_router(runtime: Runtime, config: GatewayConfig, keys: dict[str, str]) -> APIRouter:
    """POST /v1/declarations/{id}/payments."""
    filings = Filings(runtime, config, keys)

    @filings.post("payments", PaymentFiled)
    async def file_payment(
        declaration_id: str,
        body: PaymentRequest,
        enterprise_id: Annotated[str, filings.caller],
        request: Request,
    ) -> Response:
        """Register the export receipt (结汇) or import payment of a released declaration.

        Only for a declaration submitted with `"payments": "api"`. Forex matches it to the
        declared value: partial (F201), over (F202) and late (F203) are settled and reported;
        a refusal (class C without registration F101/F102, another currency F103) leaves the
        declaration waiting for a new filing.
        """

        def build(saga: Saga, now: float) -> tuple[Command, Saga, int]:
            on = body.received_on or sagas.sandbox_today(saga, now)
            command, days = forex_command(saga, body, on)
            # A new filing answers a refusal: its reason no longer stands.
            if saga.steps.get("forex") == "refused":
                saga = saga.model_copy(update={"reason": None})
            return command, saga, days

        def answer_of(after: Saga, days: int) -> PaymentFiled:
            return PaymentFiled(
                id=declaration_id,
                status=sagas.public_status(after),
                state=after.state,
                command=after.pending[-1].type,
                days_after_release=days,
            )

        return await filings.file(request, declaration_id, enterprise_id, build, answer_of)

    return filings.router
