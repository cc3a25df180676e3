"""What the trader files on a running declaration: a bank receipt or payment, a return.

Each is `POST /v1/declarations/{id}/<what>`, 202, as an enterprise: the command the filing
becomes (gateway/saga/trader.py) sent in one saga unit with the answer recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from gateway import saga as sagas
from gateway.core.config import GatewayConfig
from gateway.core.deps import ConfigDep, Enterprise, RuntimeDep
from gateway.saga import Saga
from gateway.saga.trader import Build, file_on, forex_command, return_command
from gateway.saga.unit import SagaUnit, act_on_saga
from schemas.api import PaymentFiled, PaymentRequest, ReturnFiled, ReturnRequest
from schemas.base import Command
from services.common.runtime import Runtime

R = TypeVar("R")
router = APIRouter(tags=["declarations"])


async def file(
    runtime: Runtime,
    config: GatewayConfig,
    request: Request,
    declaration_id: str,
    enterprise_id: str,
    build: Build[R],
    answer_of: Callable[[Saga, R], BaseModel],
) -> Response:
    """Send the command `build` makes of the caller's declaration (it raises a GatewayError
    when none applies; another enterprise's declaration is NotFound), remembered as a pending step,
    with the saga and its status change, in one transaction; 202 with what `answer_of`
    makes of the saga and `build`'s result, recorded in that transaction too."""

    def act(one: SagaUnit) -> BaseModel:
        return answer_of(*file_on(one, build, config=config))

    return await act_on_saga(runtime, request, declaration_id, owner=enterprise_id, act=act)


@router.post(
    "/v1/declarations/{declaration_id}/payments", status_code=202, response_model=PaymentFiled
)
async def file_payment(
    declaration_id: str,
    body: PaymentRequest,
    enterprise_id: Enterprise,
    request: Request,
    runtime: RuntimeDep,
    config: ConfigDep,
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

    return await file(runtime, config, request, declaration_id, enterprise_id, build, answer_of)


@router.post(
    "/v1/declarations/{declaration_id}/returns", status_code=202, response_model=ReturnFiled
)
async def file_return(
    declaration_id: str,
    enterprise_id: Enterprise,
    request: Request,
    runtime: RuntimeDep,
    config: ConfigDep,
    body: ReturnRequest | None = None,
) -> Response:
    """Return a completed CBEC retail import (CEB625). Within the window after release
    (30 days) tax refunds the tax and restores the buyer's annual quota; after it, T302."""

    def build(saga: Saga, now: float) -> tuple[Command, Saga, None]:
        on = (body or ReturnRequest()).returned_on
        return return_command(saga, on or sagas.sandbox_today(saga, now)), saga, None

    return await file(
        runtime,
        config,
        request,
        declaration_id,
        enterprise_id,
        build,
        lambda after, _: ReturnFiled(id=declaration_id, status=sagas.public_status(after)),
    )
