"""The trader files the return of a CBEC retail import (CEB625) through the API."""

# No `from __future__ import annotations`: FastAPI must see the closure dependencies at def time.

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Request, Response

from gateway import saga as sagas
from gateway.filing import Filings
from gateway.handlers import GatewayConfig
from gateway.saga import Saga
from schemas.api import ReturnFiled, ReturnRequest
from schemas.base import Command
from schemas.messages import RegisterReturn
from services.common.problems import Problem
from services.common.runtime import Runtime


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
        raise Problem(409, "not-applicable", "Not applicable", why, state=saga.state)
    return RegisterReturn(returned_on=on)


def returns_router(runtime: Runtime, config: GatewayConfig, keys: dict[str, str]) -> APIRouter:
    """POST /v1/declarations/{id}/returns."""
    filings = Filings(runtime, config, keys)

    @filings.post("returns", ReturnFiled)
    async def file_return(
        declaration_id: str,
        enterprise_id: Annotated[str, filings.caller],
        request: Request,
        body: ReturnRequest | None = None,
    ) -> Response:
        """Return a completed CBEC retail import (CEB625). Within the window after release
        (30 days) tax refunds the tax and restores the buyer's annual quota; after it, T302."""

        def build(saga: Saga, now: float) -> tuple[Command, Saga, None]:
            on = (body or ReturnRequest()).returned_on
            return (
                return_command(saga, on or sagas.sandbox_today(saga, now)),
                saga,
                None,
            )

        return await filings.file(
            request,
            declaration_id,
            enterprise_id,
            build,
            lambda after, _: ReturnFiled(id=declaration_id, status=sagas.public_status(after)),
        )

    return filings.router
