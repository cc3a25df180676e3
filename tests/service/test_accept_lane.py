"""The accept lane answers as the FastAPI route it stands in for.

One app is built twice, with and without `AcceptLane`: the route takes the gateway's
DeclarationRequest and its auth dependency, behind BodyGuard and the problem handlers. Every
request is sent to both; status, headers and body must be the same bytes, whether the answer
is the route's, an auth refusal, a validation error, a problem the route raises, or a
request the lane leaves to FastAPI.
"""

# No `from __future__ import annotations`: FastAPI must see the closure dependencies at def time.

import json
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.routing import APIRoute

from gateway.api.accept import AcceptLane, Lane
from gateway.core.errors import ReferenceInUse, Unauthorized, install_error_handler
from gateway.core.idempotency import Claim, claim_of
from schemas.api import DeclarationCreated, DeclarationRequest
from services.common.bodies import BodyGuard
from services.common.problems import install_problem_handlers
from singlewindow.load.plan import MixEntry, body_for

KEY = "sk_test_lane"
JSON = "application/json"
GOOD = body_for(MixEntry("export", "0110", "happy", 1.0), "ref-1")


async def enterprise(authorization: str | None = None) -> str:
    if authorization != f"Bearer {KEY}":
        raise Unauthorized("unknown API key")
    return "ent_lane"


async def accept(body: DeclarationRequest, enterprise_id: str, held: Claim | None) -> Response:
    if body.reference == "taken":
        raise ReferenceInUse("taken", field="reference")  # as gateway/saga/declare.py does
    answer = {"enterprise": enterprise_id, "held": held is not None, **body.model_dump(mode="json")}
    return Response(json.dumps(answer), status_code=202, media_type=JSON)


def app(with_lane: bool) -> FastAPI:
    router = APIRouter()

    async def auth(authorization: Annotated[str | None, Header()] = None) -> str:
        return await enterprise(authorization)

    @router.post("/v1/declarations", status_code=202, response_model=DeclarationCreated)
    async def submit(
        body: DeclarationRequest, enterprise_id: Annotated[str, Depends(auth)], request: Request
    ) -> Any:
        return await accept(body, enterprise_id, claim_of(request))

    built = FastAPI()
    if with_lane:
        route = next(r for r in router.routes if isinstance(r, APIRoute))
        built.add_middleware(AcceptLane, lane=Lane(route, enterprise, accept))
    built.add_middleware(BodyGuard, max_bytes=1_048_576)
    install_problem_handlers(built)
    install_error_handler(built)
    built.include_router(router)
    return built


def _cases() -> list[tuple[str, bytes, list[tuple[str, str]]]]:
    auth = [("Authorization", f"Bearer {KEY}")]
    good = json.dumps(GOOD).encode()
    missing = json.dumps({k: v for k, v in GOOD.items() if k != "items"}).encode()
    wrong = json.dumps({**GOOD, "items": [{"hs_code": "x", "quantity": -1}]}).encode()
    taken = json.dumps({**GOOD, "reference": "taken"}).encode()
    ct = [("Content-Type", JSON)]
    return [
        ("accepted", good, auth + ct),
        ("no key", good, ct),
        ("wrong key", good, [("Authorization", "Bearer nope"), *ct]),
        ("not Bearer", good, [("Authorization", KEY), *ct]),
        ("two keys: the first counts", good, [*auth, ("Authorization", "Bearer nope"), *ct]),
        ("a field missing", missing, auth + ct),
        ("wrong items", wrong, auth + ct),
        ("invalid and no key: 401 first", wrong, ct),
        ("a list", b"[1, 2]", auth + ct),
        ("null", b"null", auth + ct),
        ("a string", b'"x"', auth + ct),
        ("the route's problem", taken, auth + ct),
        ("empty: left to FastAPI", b"", auth + ct),
        ("+json media type", good, [*auth, ("Content-Type", "application/vnd.sw+json")]),
    ]


@pytest.mark.parametrize(("case", "body", "headers"), _cases(), ids=[c[0] for c in _cases()])
async def test_the_lane_answers_as_the_route(
    case: str, body: bytes, headers: list[tuple[str, str]]
) -> None:
    answers = []
    for with_lane in (False, True):
        transport = httpx.ASGITransport(app=app(with_lane))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            resp = await client.post("/v1/declarations", content=body, headers=headers)
        answers.append((resp.status_code, resp.headers.multi_items(), resp.content))
    assert answers[0] == answers[1], case
    if case == "accepted":
        assert answers[1][0] == 202
        assert json.loads(answers[1][2])["enterprise"] == "ent_lane"
