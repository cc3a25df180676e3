"""Idempotency keys on a real database: claims, answers, expiry, lapsed claims, fencing; and
the middleware's choice of what to keep, around a small app whose answers the test decides."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from gateway.core import idempotency
from gateway.core.idempotency import (
    LEASE_S,
    TTL_S,
    Claim,
    IdempotencyMiddleware,
    Stored,
    claim,
    fingerprint,
    record,
    release,
    store_answer,
)
from services.common.database import Database
from services.common.problems import PROBLEM_BASE, Problem, install_problem_handlers

NOW = 1_800_000_000.0
ROUTE = "POST /v1/things"


def _claim(at: float = NOW, request_hash: str = "h1", caller: str = "ent_a") -> Any:
    def unit(conn: Connection) -> Claim | Stored:
        return claim(conn, caller=caller, route=ROUTE, key="k1", request_hash=request_hash, now=at)

    return unit


async def test_the_first_answer_is_replayed_and_another_request_refused(db: Database) -> None:
    held = await db.write(_claim())
    assert isinstance(held, Claim)
    assert await db.write(
        lambda c: store_answer(
            c, held, status_code=201, content_type="application/json", body=b"{}"
        )
    )
    assert await db.write(_claim(NOW + 5)) == Stored(201, "application/json", b"{}")
    with pytest.raises(Problem) as refused:
        await db.write(_claim(NOW + 5, request_hash="h2"))
    assert (refused.value.status, refused.value.slug) == (422, "idempotency-key-reused")
    # Another caller's key of the same name is a key of its own.
    assert isinstance(await db.write(_claim(NOW + 5, caller="ent_b")), Claim)


async def test_a_running_claim_is_busy_until_it_lapses_and_then_fenced(db: Database) -> None:
    first = await db.write(_claim())
    with pytest.raises(Problem) as busy:
        await db.write(_claim(NOW + LEASE_S - 1))
    assert (busy.value.status, busy.value.slug) == (409, "idempotency-key-in-flight")
    second = await db.write(_claim(NOW + LEASE_S + 1))  # the first request's gateway died
    assert isinstance(second, Claim) and second.token != first.token

    def late(conn: Connection) -> None:  # the first one's transaction rolls back
        record(conn, first, status_code=202, body=b"late", content_type="application/json")

    with pytest.raises(Problem):
        await db.write(late)
    await db.write(lambda c: release(c, first))  # no effect: it is not the first's any more
    assert await db.write(
        lambda c: store_answer(c, second, status_code=202, content_type=None, body=b"ok")
    )
    assert await db.write(_claim(NOW + LEASE_S + 2)) == Stored(202, None, b"ok")


async def test_a_key_is_kept_24_hours_and_a_released_one_is_free(db: Database) -> None:
    held = await db.write(_claim())
    await db.write(lambda c: store_answer(c, held, status_code=200, content_type=None, body=b"1"))
    assert isinstance(await db.write(_claim(NOW + TTL_S - 1)), Stored)
    again = await db.write(_claim(NOW + TTL_S))  # expired: purged, claimed afresh
    assert isinstance(again, Claim)
    await db.write(lambda c: release(c, again))
    assert isinstance(await db.write(_claim(NOW + TTL_S + 1, request_hash="h2")), Claim)


def test_the_fingerprint_covers_method_path_query_and_body() -> None:
    base = fingerprint("POST", "/v1/a", b"", b"{}")
    assert base == fingerprint("POST", "/v1/a", b"", b"{}")
    assert len({base, fingerprint("POST", "/v1/b", b"", b"{}")}) == 2
    assert len({base, fingerprint("POST", "/v1/a", b"x=1", b"{}")}) == 2
    assert len({base, fingerprint("POST", "/v1/a", b"", b"{ }")}) == 2
    # Parts are length-prefixed: moving bytes from one part to the next is another request.
    assert fingerprint("POST", "/v1/a", b"b", b"") != fingerprint("POST", "/v1/a", b"", b"b")


def _app(db: Database, answers: list[Callable[[], Any]]) -> FastAPI:
    """An app whose POST /v1/things gives the next of `answers`, behind the middleware."""
    app = FastAPI()

    async def caller_of(authorization: str | None) -> str | None:
        return "ent_a" if authorization else None

    app.add_middleware(IdempotencyMiddleware, caller_of=caller_of, write=db.write)
    install_problem_handlers(app)

    @app.post("/v1/things")
    async def things() -> Any:
        answer = answers.pop(0)()
        return await answer if inspect.isawaitable(answer) else answer

    return app


def _boom() -> Any:
    raise RuntimeError("bug")


def _unavailable() -> Any:
    raise Problem(503, "unavailable", "Unavailable", "try later")


def _changed() -> Any:
    raise Problem(409, "conflict", "Changed meanwhile", "the declaration moved; try again")


def _gone() -> Any:
    raise Problem(404, "not-found", "Not found", "no thing")


async def test_5xx_and_try_again_answers_are_not_kept_4xx_are(db: Database) -> None:
    answers = [_boom, _unavailable, _changed, lambda: JSONResponse({"n": 1}, status_code=201)]
    transport = httpx.ASGITransport(app=_app(db, answers), raise_app_exceptions=False)
    headers = {"Authorization": "Bearer x", "Idempotency-Key": "k"}
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        statuses = [(await client.post("/v1/things", json={}, headers=headers)) for _ in range(5)]
        assert [r.status_code for r in statuses] == [500, 503, 409, 201, 201]
        assert statuses[4].headers["Idempotent-Replayed"] == "true"
        assert statuses[4].json() == {"n": 1} and not answers
        answers.append(_gone)
        other = {**headers, "Idempotency-Key": "k2"}
        gone = [(await client.post("/v1/things", json={}, headers=other)) for _ in range(2)]
        assert [r.status_code for r in gone] == [404, 404]
        assert (
            gone[1].headers["Idempotent-Replayed"] == "true" and gone[1].content == gone[0].content
        )
        # Without a key, or without a caller, the middleware stays out of the way.
        answers.extend([lambda: {"n": 2}, lambda: {"n": 3}])
        assert (
            await client.post("/v1/things", json={}, headers={"Authorization": "Bearer x"})
        ).json() == {"n": 2}
        assert (
            await client.post("/v1/things", json={}, headers={"Idempotency-Key": "k"})
        ).json() == {"n": 3}


async def test_a_slow_request_keeps_its_claim_past_the_lease(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the route runs its claim is renewed: a retry is refused as in flight, not let in
    to run the route a second time, however long the first takes."""
    lease = 0.3
    monkeypatch.setattr(idempotency, "LEASE_S", lease)
    go = asyncio.Event()
    runs: list[int] = []

    async def slow() -> Any:
        runs.append(1)
        await go.wait()
        return JSONResponse({"n": len(runs)}, status_code=201)

    transport = httpx.ASGITransport(app=_app(db, [slow, slow]))
    headers = {"Authorization": "Bearer x", "Idempotency-Key": "slow"}

    def lease_start(conn: Connection) -> float | None:
        row = conn.exec_driver_sql(
            "SELECT created_at FROM idempotent_requests WHERE key = 'slow'"
        ).first()
        return None if row is None else float(row[0])

    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        first = asyncio.create_task(client.post("/v1/things", json={}, headers=headers))
        async with asyncio.timeout(10):
            started = None
            while started is None:
                await asyncio.sleep(0.01)
                started = await db.read(lease_start)
            # Renewed past the first lease's end: without renewal, a retry now takes over.
            renewed: float | None = started
            while renewed is not None and renewed <= started + lease:
                await asyncio.sleep(0.02)
                renewed = await db.read(lease_start)
        retry = await client.post("/v1/things", json={}, headers=headers)
        assert (retry.status_code, retry.json()["type"]) == (
            409,
            PROBLEM_BASE + "idempotency-key-in-flight",
        )
        go.set()
        answered = await first
        assert answered.status_code == 201 and answered.json() == {"n": 1}
        again = await client.post("/v1/things", json={}, headers=headers)
        assert again.headers["Idempotent-Replayed"] == "true" and again.json() == {"n": 1}
    assert runs == [1]  # the route ran once
