"""`POST /v1/declarations` answered without FastAPI's per-request machinery.

The submission is the gateway's hottest request, and FastAPI's per-request work (exit stacks,
dependency resolution, a second JSON parse, a Request object) was most of its HTTP cost
(figures: bench/RESULTS.md). `AcceptLane`, innermost among the middlewares, takes the route's
steps in its order with the route's own parts: the JSON BodyGuard parsed (none: the route
answers), the auth dependency (`Keys.enterprise`, before the body as FastAPI solves it), the
route's body field (errors raised as FastAPI raises them), the route's body (`accept`). The
route stays registered: the OpenAPI document is FastAPI's, unchanged.
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
