"""The trader files the return of a CBEC retail import (CEB625) through the API."""

# No `from __future__ import annotations`: FastAPI must see the closure dependencies at def time.

from typing import Annotated

from fastapi import APIRouter, Request, Response

from gateway import saga as sagas
from gateway.api.filings import Filings
from gateway.core.config import GatewayConfig
from gateway.saga import Saga
from gateway.saga.trader import return_command
from schemas.api import ReturnFiled, ReturnRequest
from schemas.base import Command
from services.common.runtime import Runtime


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
