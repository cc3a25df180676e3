"""Every state-changing POST records its Idempotency-Key answer in the transaction of its change.

The gateway app is built as in production (gateway/app.py) against a real SQLite file, with the
group commit running and no broker (the outbox rows it would publish are kept here). Each test
plays the crash window: the route runs with a key and commits, the middleware's store of the
answer does not happen (the gateway died there), the claim lapses (aged past LEASE_S), and the
retry with the same key must replay the first answer, the change made once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, text

from gateway.api import deadletters
from gateway.app import GATEWAY_TABLES, create_app
from gateway.core.idempotency import LEASE_S, REPLAYED, IdempotencyMiddleware
from gateway.core.store import add_enterprise
from gateway.saga import Saga
from gateway.webhooks.recorder import Webhooks
from schemas.deadletter import DeadLetter
from schemas.samples import sample_declaration
from services.common.changes import OutRow
from services.common.database import Database
from services.common.db import create_tables_sync, make_engine
from services.common.groupcommit import GroupCommit
from services.common.settings import Settings
from tests.unit.test_deadletter_ids import dead_letter

API_KEY = "sk_test_idempotent_routes"
ENTERPRISE = "ent_idem"


@dataclass
class Gateway:
    client: httpx.AsyncClient
    db: Database
    admin: dict[str, str]
    trader: dict[str, str]
    published: list[OutRow] = field(default_factory=list)
    wakes: list[float] = field(default_factory=list)  # the webhook sender woken to send now

    async def declare(self, **changes: Any) -> str:
        body = {**sample_declaration("export", "0110", "happy"), **changes}
        created = await self.client.post("/v1/declarations", json=body, headers=self.trader)
        assert created.status_code == 202, created.text
        return str(created.json()["id"])

    async def scalar(self, sql: str, **params: Any) -> Any:
        return await self.db.read(lambda conn: conn.execute(text(sql), params).scalar_one())

    async def version(self, declaration_id: str) -> int:
        found = await self.scalar("SELECT version FROM records WHERE key = :k", k=declaration_id)
        return int(found)

    async def saga(self, declaration_id: str) -> Saga:
        data = await self.scalar("SELECT data FROM records WHERE key = :k", k=declaration_id)
        return Saga.model_validate_json(data)

    async def patch_saga(self, declaration_id: str, **update: Any) -> None:
        """Put the declaration where a route applies, as the agencies' answers would have."""

        def unit(conn: Connection) -> None:
            data = conn.execute(
                text("SELECT data FROM records WHERE key = :k"), {"k": declaration_id}
            ).scalar_one()
            saga = Saga.model_validate_json(data).model_copy(update=update)
            conn.execute(
                text("UPDATE records SET data = :d, status = :s WHERE key = :k"),
                {"d": saga.model_dump_json().encode(), "s": saga.state, "k": declaration_id},
            )

        await self.db.write(unit)


@pytest.fixture
async def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    settings = Settings(data_dir=tmp_path, test_helpers=True, sandbox=True)
    url = settings.database_url_of("gateway")
    app = create_app(settings, engine=make_engine(url))
    db = Database(url)
    await db.write(lambda conn: create_tables_sync(conn, GATEWAY_TABLES))
    await db.write(
        lambda conn: add_enterprise(conn, enterprise_id=ENTERPRISE, name="Idem", api_key=API_KEY)
    )
    runtime = app.state.runtime
    gw = Gateway(
        client=httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw"),
        db=db,
        admin={"Authorization": f"Bearer {settings.admin_token}"},
        trader={"Authorization": f"Bearer {API_KEY}"},
    )
    # What Runtime.start sets up for the HTTP write path, without its broker: the relay's
    # publication is the list of outbox rows the test reads.
    runtime._db = db
    runtime._intake = GroupCommit(db, gw.published.extend)
    runtime._intake.start()
    # The webhook sender posts to endpoints in a task of its own; here only its wake-ups count.
    woken = SimpleNamespace(wake=lambda: gw.wakes.append(time.time()))
    monkeypatch.setattr(Webhooks, "sender", property(lambda _: woken))
    try:
        yield gw
    finally:
        await gw.client.aclose()
        await runtime._intake.stop()
        await runtime.engine.dispose()
        db.dispose()


async def crash_then_retry(
    gw: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    body: Any,
    headers: dict[str, str],
) -> tuple[httpx.Response, httpx.Response]:
    """POST once with a key while the gateway dies before it stores the answer, let the claim
    lapse, POST again with the key: the two answers."""
    key = f"crash-{uuid.uuid4()}"
    sent = {**headers, "Idempotency-Key": key}

    async def dies(*_: Any) -> None:  # the gateway dies after the route, before the store
        return None

    with monkeypatch.context() as crash:
        crash.setattr(IdempotencyMiddleware, "_settle", dies)
        first = await gw.client.post(path, json=body, headers=sent)

    def lapse(conn: Connection) -> int:
        return conn.execute(
            text("UPDATE idempotent_requests SET created_at = created_at - :s WHERE key = :k"),
            {"s": LEASE_S + 1, "k": key},
        ).rowcount

    assert await gw.db.write(lapse) == 1
    again = await gw.client.post(path, json=body, headers=sent)
    assert first.status_code < 300, first.text
    assert (again.status_code, again.headers.get(REPLAYED)) == (first.status_code, "true")
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    return first, again


Case = Callable[[Gateway, pytest.MonkeyPatch], Awaitable[None]]


async def enterprise(gw: Gateway, mp: pytest.MonkeyPatch) -> None:
    name = "Once Trading Co."
    first, _ = await crash_then_retry(gw, mp, "/v1/admin/enterprises", {"name": name}, gw.admin)
    assert first.status_code == 201
    assert await gw.scalar("SELECT count(*) FROM enterprises WHERE name = :n", n=name) == 1


async def webhook_endpoint(gw: Gateway, mp: pytest.MonkeyPatch) -> None:
    body = {"url": "http://127.0.0.1:9/hooks", "enabled_events": ["declaration.completed"]}
    first, _ = await crash_then_retry(gw, mp, "/v1/webhook_endpoints", body, gw.trader)
    assert first.status_code == 201 and first.json()["secret"].startswith("whsec_")
    listed = await gw.client.get("/v1/webhook_endpoints", headers=gw.trader)
    assert [e["id"] for e in listed.json()["data"]] == [first.json()["id"]]


async def webhook_redelivery(gw: Gateway, mp: pytest.MonkeyPatch) -> None:
    def failed_delivery(conn: Connection) -> None:
        conn.execute(
            text(
                "INSERT INTO webhook_events (id, enterprise_id, declaration_id, type, body, "
                "created_at) VALUES ('ev_1', :e, 'd_1', 'declaration.completed', :b, 1)"
            ),
            {"e": ENTERPRISE, "b": b"{}"},
        )
        conn.execute(
            text(
                "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, enterprise_id, "
                "declaration_id, duplicate, status, attempts, max_attempts, next_attempt_at, "
                "created_at, updated_at) VALUES ('wd_1', 'ev_1', 'we_1', :e, 'd_1', 0, "
                "'failed', 3, 3, NULL, 1, 1)"
            ),
            {"e": ENTERPRISE},
        )

    await gw.db.write(failed_delivery)
    path = "/v1/webhook_deliveries/wd_1/redeliver"
    first, _ = await crash_then_retry(gw, mp, path, None, gw.trader)
    assert first.status_code == 202 and first.json()["status"] == "pending"
    assert len(gw.wakes) == 1
    updated = await gw.scalar("SELECT updated_at FROM webhook_deliveries WHERE id = 'wd_1'")
    # The retry did not queue it again: the row is as the first answer shows it.
    assert datetime.fromtimestamp(updated, UTC) == datetime.fromisoformat(
        first.json()["updated_at"]
    )


async def clock_advance(gw: Gateway, mp: pytest.MonkeyPatch) -> None:
    path = "/v1/test_helpers/clock/advance"
    first, _ = await crash_then_retry(gw, mp, path, {"seconds": 60}, gw.trader)
    assert first.json()["offset_s"] == 60
    clock = await gw.client.get("/v1/test_helpers/clock", headers=gw.trader)
    assert clock.json()["offset_s"] == 60  # moved once


async def saga_route(
    gw: Gateway,
    mp: pytest.MonkeyPatch,
    path: str,
    body: Any = None,
    *,
    declared: dict[str, Any] | None = None,
    patch: Callable[[Saga], dict[str, Any]] | None = None,
) -> httpx.Response:
    """A route on one declaration (`{id}` in `path`), declared from `declared` and put where
    the route applies by `patch`: its saga changed once (one more version)."""
    declaration_id = await gw.declare(**(declared or {}))
    if patch is not None:
        await gw.patch_saga(declaration_id, **patch(await gw.saga(declaration_id)))
    before = await gw.version(declaration_id)
    path = path.format(id=declaration_id)
    headers = gw.admin if path.startswith("/v1/admin/") else gw.trader
    first, _ = await crash_then_retry(gw, mp, path, body, headers)
    assert await gw.version(declaration_id) == before + 1
    return first


async def forced_outcome(gw: Gateway, mp: pytest.MonkeyPatch) -> None:
    first = await saga_route(
        gw, mp, "/v1/test_helpers/declarations/{id}/outcomes", {"outcome": "customs_accepts_green"}
    )
    assert first.json()["command"] == "customs.declaration.file"


async def paced_advance(gw: Gateway, mp: pytest.MonkeyPatch) -> None:
    first = await saga_route(gw, mp, "/v1/declarations/{id}/advance", declared={"pace": "step"})
    assert first.json()["released"]


async def admin_cancel(gw: Gateway, mp: pytest.MonkeyPatch) -> None:
    first = await saga_route(gw, mp, "/v1/admin/declarations/{id}/cancel", {"reason": "once"})
    assert first.json()["state"] == "cancelled"


async def admin_retry(gw: Gateway, mp: pytest.MonkeyPatch) -> None:
    path = "/v1/admin/declarations/{id}/retry"
    stalled = {"stalled_reason": "customs did not answer"}
    first = await saga_route(gw, mp, path, patch=lambda _: stalled)
    assert first.json()["resent"] == []


async def filed_return(gw: Gateway, mp: pytest.MonkeyPatch) -> None:
    def collected(saga: Saga) -> dict[str, Any]:
        steps = {**saga.steps, "tax": "collected"}
        return {"state": "completed", "steps": steps, "pending": ()}

    import_ = sample_declaration("import", "9610", "happy")
    path = "/v1/declarations/{id}/returns"
    first = await saga_route(gw, mp, path, {}, declared=import_, patch=collected)
    assert first.status_code == 202


async def filed_payment(gw: Gateway, mp: pytest.MonkeyPatch) -> None:
    amount: dict[str, Any] = {}

    def settling(saga: Saga) -> dict[str, Any]:
        amount.update(amount=str(saga.brief.total_value), currency=saga.brief.currency)
        return {"state": "settling", "pending": (), "entry_id": "E-1"}

    path = "/v1/declarations/{id}/payments"
    first = await saga_route(gw, mp, path, amount, declared={"payments": "api"}, patch=settling)
    assert first.json()["command"] == "forex.receipt.settle"


async def dead_letter_replay(gw: Gateway, mp: pytest.MonkeyPatch) -> None:
    letter = dead_letter(value="not json")  # a message without a key

    async def read_letters(*_: Any, **__: Any) -> list[tuple[str, DeadLetter]]:
        return [("0-7", letter)]  # the dead-letter topic, read from the broker

    mp.setattr(deadletters, "read_letters", read_letters)
    first, _ = await crash_then_retry(gw, mp, "/v1/admin/deadletters/0-7/replay", None, gw.admin)
    assert first.json() == {"id": "0-7", "topic": letter.topic}
    sent = [row for row in gw.published if row.topic == letter.topic]
    assert [(row.key, row.value) for row in sent] == [("", b"not json")]  # once


COVERED = {  # every POST of the gateway, and how its crash window is shown closed
    "/v1/admin/enterprises": enterprise,
    "/v1/webhook_endpoints": webhook_endpoint,
    "/v1/webhook_deliveries/{delivery_id}/redeliver": webhook_redelivery,
    "/v1/test_helpers/clock/advance": clock_advance,
    "/v1/test_helpers/declarations/{declaration_id}/outcomes": forced_outcome,
    "/v1/declarations/{declaration_id}/advance": paced_advance,
    "/v1/admin/declarations/{declaration_id}/cancel": admin_cancel,
    "/v1/admin/declarations/{declaration_id}/retry": admin_retry,
    "/v1/declarations/{declaration_id}/returns": filed_return,
    "/v1/declarations/{declaration_id}/payments": filed_payment,
    "/v1/admin/deadletters/{letter_id}/replay": dead_letter_replay,
    # Submissions record their answer in their own unit since they exist (gateway/api/declarations.py
    # declare_all); tests/e2e/test_idempotency.py replays them.
    "/v1/declarations": None,
    "/v1/declarations/batch": None,
    # The CEB door's key is each document's guid: a message sent again files nothing twice and
    # is answered with the receipts already sent (tests/e2e/test_ceb.py).
    "/v1/ceb/messages": None,
}
CASES: list[Case] = [case for case in COVERED.values() if case is not None]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
async def test_a_crash_before_the_answer_is_stored_replays_it(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    await case(gateway, monkeypatch)


def test_every_post_of_the_gateway_is_covered(tmp_path: Path) -> None:
    """A new POST joins COVERED, with a case of its own (or None, and why)."""
    app = create_app(Settings(data_dir=tmp_path, test_helpers=True))
    posts = {path for path, ops in app.openapi()["paths"].items() if "post" in ops}
    assert posts == set(COVERED)
