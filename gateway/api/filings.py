"""What the trader files on a running declaration (a receipt, a return): one saga unit each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy import Connection

from gateway.core.config import GatewayConfig
from gateway.core.idempotency import Answer
from gateway.core.keys import enterprise_auth
from gateway.saga import Saga
from gateway.saga.trader import file_on
from gateway.saga.unit import run_on_saga
from schemas.base import Command
from services.common.changes import Changes, OutRow
from services.common.runtime import Runtime

R = TypeVar("R")
Build = Callable[[Saga, float], tuple[Command, Saga, R]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


class Filings:
    """A router of filings: `POST /v1/declarations/{id}/<what>`, 202, as an enterprise.

    An endpoint declares its own body and answer and takes the caller as
    `enterprise_id: Annotated[str, filings.caller]` and the `request`; `file` does the rest.
    """

    def __init__(self, runtime: Runtime, config: GatewayConfig, keys: dict[str, str]) -> None:
        self.runtime = runtime
        self.config = config
        self.router = APIRouter()
        self.caller = Depends(enterprise_auth(keys, runtime))

    def post(self, what: str, response_model: type[Any]) -> Callable[[Endpoint], Endpoint]:
        """The decorator of the endpoint filing `what` on a declaration."""
        return self.router.post(
            f"/v1/declarations/{{declaration_id}}/{what}",
            status_code=202,
            response_model=response_model,
            tags=["declarations"],
        )

    async def file(
        self,
        request: Request,
        declaration_id: str,
        enterprise_id: str,
        build: Build[R],
        answer_of: Callable[[Saga, R], BaseModel],
    ) -> Response:
        """Send the command `build` makes of the caller's declaration (it raises a Problem when
        none applies; another enterprise's declaration is a 404), remembered as a pending step,
        with the saga and its status change, in one transaction; 202 with what `answer_of`
        makes of the saga and `build`'s result, recorded in that transaction too."""
        answer = Answer.to(request)

        def unit(conn: Connection) -> tuple[Response, Sequence[OutRow]]:
            changes = Changes()
            after, result = file_on(
                conn, changes, declaration_id, enterprise_id, build, config=self.config
            )
            return answer(conn, answer_of(after, result)), changes.apply(conn)

        return await answer.kept(run_on_saga(self.runtime, unit))
