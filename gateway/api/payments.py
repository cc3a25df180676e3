"""The trader files an export receipt or import payment with the bank through the API."""

# No `from __future__ import annotations`: FastAPI must see the closure dependencies at def time.

from typing import Annotated

from fastapi import APIRouter, Request, Response

from gateway import saga as sagas
from gateway.api.filings import Filings
from gateway.core.config import GatewayConfig
from gateway.saga import Saga
from gateway.saga.trader import forex_command
from schemas.api import PaymentFiled, PaymentRequest
from schemas.base import Command
from services.common.runtime import Runtime


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
