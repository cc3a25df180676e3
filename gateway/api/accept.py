"""`POST /v1/declarations` answered without FastAPI's per-request machinery.

The gateway's hottest request is its submission. Through FastAPI it paid, each time, for the
route's exit stacks, dependency resolution (the auth dependency's header parameter, the
dependency cache), the content-type parsed with `email.message`, the body parsed as JSON a
second time (BodyGuard parsed it already) and a Request object: three fifths of the HTTP
stack's CPU, a fifth of the gateway process's under load (py-spy, bench/RESULTS.md).

`AcceptLane` sits innermost among the middlewares (inside BodyGuard and the idempotency
middleware, outside FastAPI's exception middleware and router) and takes the steps of the
route itself, in its order, with its own parts:

1. the JSON body BodyGuard parsed (`parsed_json`); a request without one (an empty body)
   goes on to the FastAPI route, which answers it as before;
2. the route's auth dependency (`Keys.enterprise`) on the first `Authorization` header: a
   Problem (401) before the body is validated, as FastAPI solves dependencies first;
3. the route's own body field (`APIRoute.body_field`) validating the JSON, its errors raised
   as FastAPI raises them (`RequestValidationError`, locations under `body`);
4. the route's body (`accept`), whose error is answered as the app's handlers answer it.

The route stays registered: the OpenAPI document is FastAPI's, unchanged. Any other
exception goes up to the server error middleware, as from the route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.core.errors import GatewayError, as_problem
from gateway.core.idempotency import Claim, claim_in
from services.common.bodies import NO_JSON, parsed_json
from services.common.problems import Problem, problem_of, validation_problem

BODY_LOC = ("body",)  # where FastAPI puts a single, not embedded, body's errors


@dataclass(frozen=True)
class Lane:
    """What the lane needs of a route: the route, its auth dependency and its body."""

    route: APIRoute
    enterprise: Callable[[str | None], Awaitable[str]]
    accept: Callable[[Any, str, Claim | None], Awaitable[Response]]


class AcceptLane:
    """Answers POST requests to `lane.route`'s path with a parsed JSON body; the rest go on."""

    def __init__(self, app: ASGIApp, *, lane: Lane) -> None:
        self.app = app
        self.lane = lane
        self.path = lane.route.path
        body_field = lane.route.body_field
        assert body_field is not None, f"{self.path} takes no body"
        self.body_field = body_field

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parsed = (
            parsed_json(scope)
            if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path
            else NO_JSON
        )
        if parsed is NO_JSON:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.lane.route  # as the router sets it (span names, logs)
        try:
            response = await self._answer(scope, parsed)
        except Problem as exc:
            response = problem_of(exc)
        except GatewayError as exc:
            response = problem_of(as_problem(exc))
        except RequestValidationError as exc:
            response = validation_problem(exc)
        await response(scope, receive, send)

    async def _answer(self, scope: Scope, value: Any) -> Response:
        authorization = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
        )
        enterprise_id = await self.lane.enterprise(authorization)
        body, errors = self.body_field.validate(value, {}, loc=BODY_LOC)
        if errors:
            raise RequestValidationError(errors, body=value)
        return await self.lane.accept(body, enterprise_id, claim_in(scope))
