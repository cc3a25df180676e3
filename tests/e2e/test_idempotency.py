"""`Idempotency-Key` on every POST under /v1, on the real system over HTTP (gateway/core/idempotency.py).

Each test registers an enterprise of its own, so keys and clocks are the test's alone.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import Any

import httpx

from gateway.core.idempotency import LEASE_S
from schemas.samples import sample_declaration
from tests.e2e.conftest import System
from tests.e2e.steady_load import new_enterprise
from tests.support import wait_for

DAY = 24 * 3600.0
REPLAYED = "Idempotent-Replayed"


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"test-{uuid.uuid4()}"}


def _client(system: System, name: str) -> httpx.Client:
    return system.client(new_enterprise(system, system.admin_token, name))


def _endpoint_body() -> dict[str, Any]:
    return {"url": "http://127.0.0.1:9/hooks", "enabled_events": ["declaration.completed"]}


def _age(system: System, key: str, seconds: float) -> None:
    """Make a stored key `seconds` older, as if its first use had been that long ago."""
    with sqlite3.connect(system.data_dir / "gateway.db", timeout=30) as db:
        changed = db.execute(
            "UPDATE idempotent_requests SET created_at = created_at - ? WHERE key = ?",
            (seconds, key),
        ).rowcount
    assert changed == 1


def test_webhook_endpoint_creation_is_replayed_with_its_secret(system: System) -> None:
    """The same key shows the same endpoint and secret again, to the same enterprise only;
    no second endpoint is made. A different body with the key is refused."""
    key = _key()
    with _client(system, "idem-webhooks") as client:
        first = client.post("/v1/webhook_endpoints", json=_endpoint_body(), headers=key)
        again = client.post("/v1/webhook_endpoints", json=_endpoint_body(), headers=key)
        assert first.status_code == again.status_code == 201, first.text
        assert again.content == first.content  # the same id and the same secret
        assert again.headers[REPLAYED] == "true" and REPLAYED not in first.headers
        assert again.headers["content-type"] == first.headers["content-type"]
        assert len(client.get("/v1/webhook_endpoints").json()["data"]) == 1
        other = dict(_endpoint_body(), description="another one")
        clash = client.post("/v1/webhook_endpoints", json=other, headers=key)
        assert clash.status_code == 422, clash.text
        problem = clash.json()
        assert problem["type"].endswith("/problems/idempotency-key-reused")
        assert "different request" in problem["detail"] and problem["field"] == "Idempotency-Key"
        assert len(client.get("/v1/webhook_endpoints").json()["data"]) == 1
    with _client(system, "idem-webhooks-other") as stranger:  # keys are per enterprise
        theirs = stranger.post("/v1/webhook_endpoints", json=_endpoint_body(), headers=key)
        assert theirs.status_code == 201 and REPLAYED not in theirs.headers
        assert theirs.json()["id"] != first.json()["id"]


def test_a_payment_filing_is_replayed_not_filed_twice(system: System) -> None:
    body = sample_declaration("export", "0110", "happy")
    body["payments"] = "api"
    with _client(system, "idem-payments") as client:
        declaration_id = client.post("/v1/declarations", json=body).json()["id"]

        def awaiting() -> bool:
            view = client.get(f"/v1/declarations/{declaration_id}").json()
            return bool(view["steps"]["forex"] == "awaiting_trader")

        wait_for(awaiting, timeout_s=30, what="the receipt to be awaited")
        url = f"/v1/declarations/{declaration_id}/payments"
        key, paid = _key(), {"amount": "12000.00", "currency": "USD"}
        first = client.post(url, json=paid, headers=key)
        again = client.post(url, json=paid, headers=key)
        assert first.status_code == again.status_code == 202, first.text
        assert again.json() == first.json() and again.headers[REPLAYED] == "true"
        # Without the key the second filing would be refused: one receipt is pending already.
        assert client.post(url, json=paid).status_code == 409
        view = system.wait_terminal(client, declaration_id)
        events = client.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
    assert view["status"] == "completed", view
    assert [e["type"] for e in events].count("forex.receipt.settle") == 1


def test_a_test_helper_clock_move_is_replayed_and_moves_once(system: System) -> None:
    key = _key()
    with _client(system, "idem-clock") as client:
        before = client.get("/v1/test_helpers/clock").json()["offset_s"]  # the admin's moves too
        first = client.post("/v1/test_helpers/clock/advance", json={"seconds": 600}, headers=key)
        again = client.post("/v1/test_helpers/clock/advance", json={"seconds": 600}, headers=key)
        assert first.status_code == again.status_code == 200, first.text
        assert again.content == first.content and again.headers[REPLAYED] == "true"
        assert client.get("/v1/test_helpers/clock").json()["offset_s"] == before + 600
        # Keys are per route: the same key on another POST is a key of its own.
        other = client.post("/v1/webhook_endpoints", json=_endpoint_body(), headers=key)
        assert other.status_code == 201 and REPLAYED not in other.headers


def test_a_4xx_answer_is_replayed_too(system: System) -> None:
    key = _key()
    with _client(system, "idem-4xx") as client:
        url = f"/v1/declarations/{uuid.uuid4()}/payments"
        paid = {"amount": "1.00", "currency": "USD"}
        first = client.post(url, json=paid, headers=key)
        again = client.post(url, json=paid, headers=key)
        assert first.status_code == again.status_code == 404
        assert again.content == first.content and again.headers[REPLAYED] == "true"
        assert again.headers["content-type"] == "application/problem+json"


def test_a_key_expires_after_24_hours(system: System) -> None:
    key = _key()
    with _client(system, "idem-expiry") as client:
        first = client.post("/v1/webhook_endpoints", json=_endpoint_body(), headers=key)
        assert first.status_code == 201
        _age(system, key["Idempotency-Key"], DAY - 60)  # a day less a minute: still kept
        kept = client.post("/v1/webhook_endpoints", json=_endpoint_body(), headers=key)
        assert kept.headers.get(REPLAYED) == "true" and kept.json()["id"] == first.json()["id"]
        _age(system, key["Idempotency-Key"], 120)  # now a day and a minute old: gone
        fresh = client.post("/v1/webhook_endpoints", json=_endpoint_body(), headers=key)
        assert fresh.status_code == 201 and REPLAYED not in fresh.headers
        assert fresh.json()["id"] != first.json()["id"]
        assert len(client.get("/v1/webhook_endpoints").json()["data"]) == 2


def test_a_key_in_flight_is_a_409_until_its_claim_lapses(system: System) -> None:
    """A claim left by a request that never finished (its gateway died): a retry is told to
    wait, and takes the key over once the claim is older than the lease (30 s)."""
    key, body = _key(), _endpoint_body()
    with _client(system, "idem-in-flight") as client:
        enterprise_id = client.get("/v1/test_helpers/clock").json()["scope"]
        # The fingerprint is the route's: claim the key through the API first, then
        # turn its stored answer back into an unfinished claim.
        assert client.post("/v1/webhook_endpoints", json=body, headers=key).status_code == 201
        with sqlite3.connect(system.data_dir / "gateway.db", timeout=30) as db:
            db.execute(
                "UPDATE idempotent_requests SET status_code = NULL, response = NULL, "
                "created_at = ? WHERE caller = ? AND key = ?",
                (time.time(), enterprise_id, key["Idempotency-Key"]),
            )
        busy = client.post("/v1/webhook_endpoints", json=body, headers=key)
        assert busy.status_code == 409, busy.text
        assert busy.json()["type"].endswith("/problems/idempotency-key-in-flight")
        _age(system, key["Idempotency-Key"], LEASE_S + 1)
        taken = client.post("/v1/webhook_endpoints", json=body, headers=key)
        assert taken.status_code == 201 and REPLAYED not in taken.headers
        replay = client.post("/v1/webhook_endpoints", json=body, headers=key)
        assert replay.content == taken.content and replay.headers[REPLAYED] == "true"


def test_a_declaration_is_replayed_and_the_key_is_too_long_is_refused(system: System) -> None:
    body = sample_declaration("export", "0110", "happy")
    with _client(system, "idem-submit") as client:
        key = _key()
        first = client.post("/v1/declarations", json=body, headers=key)
        again = client.post("/v1/declarations", json=body, headers=key)
        assert first.status_code == again.status_code == 202
        assert again.content == first.content and again.headers[REPLAYED] == "true"
        assert len(client.get("/v1/declarations").json()["data"]) == 1
        long = client.post("/v1/declarations", json=body, headers={"Idempotency-Key": "k" * 256})
        assert long.status_code == 422
        assert long.json()["errors"][0]["field"] == "Idempotency-Key"


def test_every_post_documents_the_header(system: System) -> None:
    doc = httpx.get(system.url("gateway") + "/openapi.json").json()
    posts = {path: ops["post"] for path, ops in doc["paths"].items() if "post" in ops}
    assert {"/v1/declarations", "/v1/webhook_endpoints", "/v1/test_helpers/clock/advance"} <= set(
        posts
    )
    for path, post in posts.items():
        names = [p["name"] for p in post.get("parameters", []) if p["in"] == "header"]
        assert names.count("Idempotency-Key") == 1, path
