"""Signed webhooks on the real system, received by an independent receiver in this process.

The receiver below checks every signature with `hmac` and `hashlib` alone (none of the
project's code), as an integrator's server would. The system is this module's own, with
short webhook backoffs (0.2 s doubling to 2 s, 8 attempts) so outages heal within the tests'
patience; the gateway is SIGKILLed in the last test, so it is not the session's shared one.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.samples import sample_declaration
from schemas.topics import STATUS
from services.common.generations import partitions_of
from singlewindow.spawn import free_port_block, spawn_system
from tests.e2e.conftest import System
from tests.e2e.steady_load import new_enterprise
from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_ENV = {
    "SW_STEP_DEADLINE_S": "2",
    "SW_STEP_MAX_ATTEMPTS": "10",
    "SW_WEBHOOK_BACKOFF_S": "0.2",
    "SW_WEBHOOK_BACKOFF_MAX_S": "2",
    "SW_WEBHOOK_MAX_ATTEMPTS": "8",
    "SW_WEBHOOK_TIMEOUT_S": "2",
}


@dataclass
class Received:
    """One POST as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the gateway sends up to 16 requests at once
    daemon_threads = True


@dataclass
class Receiver:
    """An integrator's webhook server: verifies signatures with the standard library only."""

    port: int
    secrets: dict[str, str] = field(default_factory=dict)  # path → whsec_…
    answers: dict[str, int] = field(default_factory=dict)  # path → status to answer
    got: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                secret = receiver.secrets.get(self.path, "")
                verified = _verify(secret, self.headers.get("SW-Signature", ""), body)
                with receiver.lock:
                    receiver.got.append(
                        Received(self.path, dict(self.headers), body, verified, time.time())
                    )
                code = receiver.answers.get(self.path, 200) if verified else 400
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def events(self, path: str, declaration_id: str | None = None) -> list[Received]:
        with self.lock:
            return [
                r
                for r in self.got
                if r.path == path
                and (declaration_id is None or r.event["declaration_id"] == declaration_id)
            ]


def _verify(secret: str, header: str, body: bytes, tolerance_s: int = 300) -> bool:
    """The receiver's own check: HMAC-SHA256(secret, f"{t}." + body) in hex, t recent."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.partition("=")
        parts.setdefault(name.strip(), []).append(value.strip())
    if "t" not in parts or "v1" not in parts or not secret:
        return False
    t = parts["t"][0]
    expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(t)) <= tolerance_s
    return fresh and any(hmac.compare_digest(expected, v) for v in parts["v1"])


@pytest.fixture(scope="module")
def hooks_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data_dir = tmp_path_factory.mktemp("webhooks")
    with spawn_system(data_dir, extra_env=WEBHOOK_ENV) as spawned:
        yield System(
            spawned.proc, spawned.port_base, spawned.broker, data_dir, spawned.generation_s
        )


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver(port=free_port_block(1))
    r.start()
    yield r
    r.stop()


def _register(client: httpx.Client, receiver: Receiver, path: str, **extra: Any) -> dict[str, Any]:
    answer = client.post("/v1/webhook_endpoints", json={"url": receiver.url(path), **extra})
    assert answer.status_code == 201, answer.text
    endpoint = answer.json()
    assert endpoint["secret"].startswith("whsec_")
    receiver.secrets[path] = endpoint["secret"]
    return endpoint


def _enterprise(system: System, name: str) -> str:
    """A new enterprise's API key."""
    return new_enterprise(system, system.admin_token, name)


def _submit(client: httpx.Client, scenario: str = "happy") -> str:
    answer = client.post("/v1/declarations", json=sample_declaration("export", "0110", scenario))
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def _status_messages(client: httpx.Client, declaration_id: str) -> list[dict[str, Any]]:
    """The status messages of a declaration, from its timeline, in the order they were made."""
    timeline = client.get(f"/v1/declarations/{declaration_id}/events").json()["data"]
    return [e for e in timeline if e["type"] == "declaration.status.changed"]


def _deliveries(client: httpx.Client, **filters: str) -> list[dict[str, Any]]:
    answer = client.get("/v1/webhook_deliveries", params={**filters, "limit": 200})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


def _all_succeeded(client: httpx.Client, expected: int, **filters: str) -> list[dict[str, Any]]:
    found = _deliveries(client, **filters)
    done = len(found) >= expected and all(d["status"] == "succeeded" for d in found)
    return found if done else []


def test_every_status_change_arrives_signed_and_in_order(
    hooks_system: System, receiver: Receiver
) -> None:
    with hooks_system.client() as client:
        endpoint = _register(client, receiver, "/a", description="ERP")
        declaration_id = _submit(client)
        assert hooks_system.wait_terminal(client, declaration_id)["status"] == "completed"
        made = _status_messages(client, declaration_id)
        got = wait_for(
            lambda: (
                len(receiver.events("/a", declaration_id)) >= len(made)
                and receiver.events("/a", declaration_id)
            ),
            timeout_s=30,
            what="every status change at the receiver",
        )
        assert all(r.verified for r in got)
        # One POST per status message, in the order the gateway made them.
        assert [r.event["id"] for r in got] == [m["id"] for m in made]
        assert [r.event["data"]["state"] for r in got] == [m["payload"]["state"] for m in made]
        types = [r.event["type"] for r in got]
        assert types[0] == "declaration.submitted" and types[-1] == "declaration.completed"
        assert set(types[1:-1]) == {"declaration.in_progress"}
        first = got[0]
        assert first.headers["SW-Event-Id"] == first.event["id"]
        assert first.headers["SW-Event-Type"] == "declaration.submitted"
        assert first.headers["Content-Type"] == "application/json"

        # The delivery log: one attempt each, answered 200.
        log = wait_for(
            lambda: _all_succeeded(
                client, len(made), declaration_id=declaration_id, endpoint_id=endpoint["id"]
            ),
            timeout_s=10,
            what="the deliveries to be logged as succeeded",
        )
        assert [d["event_id"] for d in log] == [m["id"] for m in made]
        assert all(d["endpoint_id"] == endpoint["id"] for d in log)
        assert all(
            d["attempts"] == 1 and [a["status_code"] for a in d["log"]] == [200] for d in log
        )

        # The secret is shown once: not in any later answer, nor in the gateway's log.
        secret = endpoint["secret"]
        listed = client.get("/v1/webhook_endpoints").text
        one = client.get(f"/v1/webhook_endpoints/{endpoint['id']}").text
        assert endpoint["id"] in listed and secret not in listed + one
        assert secret not in (hooks_system.data_dir / "logs" / "gateway.log").read_text()


def test_a_receiver_outage_is_retried_until_it_recovers(
    hooks_system: System, receiver: Receiver
) -> None:
    receiver.answers["/b"] = 500
    with hooks_system.client() as client:
        endpoint = _register(client, receiver, "/b")
        declaration_id = _submit(client)
        hooks_system.wait_terminal(client, declaration_id)
        made = _status_messages(client, declaration_id)

        def failed_twice() -> list[dict[str, Any]]:
            found = _deliveries(client, declaration_id=declaration_id, endpoint_id=endpoint["id"])
            return found if found and found[0]["attempts"] >= 2 else []

        wait_for(failed_twice, timeout_s=20, what="two failed attempts of the first delivery")
        receiver.answers["/b"] = 200
        log = wait_for(
            lambda: _all_succeeded(
                client, len(made), declaration_id=declaration_id, endpoint_id=endpoint["id"]
            ),
            timeout_s=30,
            what="the retried deliveries to succeed",
        )
        assert client.delete(f"/v1/webhook_endpoints/{endpoint['id']}").status_code == 204
    first = log[0]
    codes = [a["status_code"] for a in first["log"]]
    assert codes[:2] == [500, 500] and codes[-1] == 200, first
    assert first["log"][0]["error"] == "HTTP 500" and first["log"][-1]["error"] is None
    assert first["next_attempt_at"] is None and first["last_status_code"] == 200
    # Attempts were spaced by the backoff: at least half of 0.2 s, then of 0.4 s.
    times = [a["at"] for a in first["log"]]
    gaps = [
        (b - a).total_seconds()
        for a, b in zip(
            map(datetime.fromisoformat, times[:-1]),
            map(datetime.fromisoformat, times[1:]),
            strict=True,
        )
    ]
    assert gaps[0] >= 0.1 and (len(gaps) < 2 or gaps[1] >= 0.2), gaps
    metrics = httpx.get(hooks_system.url("gateway") + "/metrics", timeout=5).text
    assert 'sw_webhook_attempts_total{outcome="pending"}' in metrics  # the retried failures
    # Every event reached the receiver, signed, at least once after it recovered.
    ok = {r.event["id"] for r in receiver.events("/b", declaration_id) if r.verified}
    assert ok == {m["id"] for m in made}


def test_a_failed_delivery_is_redelivered_by_hand(hooks_system: System, receiver: Receiver) -> None:
    receiver.answers["/c"] = 503
    with hooks_system.client() as client:
        endpoint = _register(client, receiver, "/c", enabled_events=["declaration.completed"])
        declaration_id = _submit(client)
        hooks_system.wait_terminal(client, declaration_id)

        def failed() -> list[dict[str, Any]]:
            return _deliveries(
                client, declaration_id=declaration_id, endpoint_id=endpoint["id"], status="failed"
            )

        delivery = wait_for(failed, timeout_s=40, what="the delivery to run out of attempts")[0]
        assert delivery["event_type"] == "declaration.completed"
        assert delivery["attempts"] == 8 and delivery["max_attempts"] == 8
        assert [a["status_code"] for a in delivery["log"]] == [503] * 8
        assert delivery["next_attempt_at"] is None
        # Only the event it asked for.
        assert (
            len(_deliveries(client, declaration_id=declaration_id, endpoint_id=endpoint["id"])) == 1
        )

        receiver.answers["/c"] = 200
        answer = client.post(f"/v1/webhook_deliveries/{delivery['id']}/redeliver")
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "pending"

        def succeeded() -> dict[str, Any] | None:
            found = client.get(f"/v1/webhook_deliveries/{delivery['id']}").json()
            return found if found["status"] == "succeeded" else None

        done = wait_for(succeeded, timeout_s=20, what="the redelivery to succeed")
        assert done["attempts"] == 9 and done["log"][-1]["status_code"] == 200
        got = receiver.events("/c", declaration_id)
        assert len(got) == 9 and len({r.event["id"] for r in got}) == 1  # the same event
        assert all(r.verified for r in got)
        assert [r.headers["SW-Delivery-Attempt"] for r in got] == [str(n) for n in range(1, 10)]

        # A succeeded delivery can be sent again too (e.g. to a receiver that lost it).
        again = client.post(f"/v1/webhook_deliveries/{delivery['id']}/redeliver")
        assert again.status_code == 202
        wait_for(
            lambda: len(receiver.events("/c", declaration_id)) == 10,
            timeout_s=20,
            what="the second redelivery",
        )
        assert client.delete(f"/v1/webhook_endpoints/{endpoint['id']}").status_code == 204


def test_an_enterprise_never_receives_nor_sees_anothers_declarations(
    hooks_system: System, receiver: Receiver
) -> None:
    with hooks_system.client() as a, hooks_system.client(_enterprise(hooks_system, "B Co.")) as b:
        a_endpoint = _register(a, receiver, "/iso-a")
        b_endpoint = _register(b, receiver, "/iso-b")
        a_decl = _submit(a)
        b_decl = _submit(b)
        for client, decl in ((a, a_decl), (b, b_decl)):
            hooks_system.wait_terminal(client, decl)
        for path, mine in (("/iso-a", a_decl), ("/iso-b", b_decl)):
            wait_for(
                lambda p=path, d=mine: any(
                    r.event["type"] == "declaration.completed" for r in receiver.events(p, d)
                ),
                timeout_s=30,
                what=f"{path} to get its own declaration's end",
            )
        assert {r.event["declaration_id"] for r in receiver.events("/iso-a")} == {a_decl}
        assert {r.event["declaration_id"] for r in receiver.events("/iso-b")} == {b_decl}

        # B sees only its own endpoint and deliveries; A's are 404 to it.
        assert [e["id"] for e in b.get("/v1/webhook_endpoints").json()["data"]] == [
            b_endpoint["id"]
        ]
        assert {d["declaration_id"] for d in _deliveries(b)} == {b_decl}
        a_delivery = _deliveries(a, declaration_id=a_decl, endpoint_id=a_endpoint["id"])[0]["id"]
        for method, path in (
            ("GET", f"/v1/webhook_endpoints/{a_endpoint['id']}"),
            ("GET", f"/v1/webhook_endpoints/{a_endpoint['id']}/deliveries"),
            ("DELETE", f"/v1/webhook_endpoints/{a_endpoint['id']}"),
            ("GET", f"/v1/webhook_deliveries/{a_delivery}"),
            ("POST", f"/v1/webhook_deliveries/{a_delivery}/redeliver"),
        ):
            answer = b.request(method, path)
            assert answer.status_code == 404, (method, path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
        assert _deliveries(b, declaration_id=a_decl) == []
        # A's endpoint survived B's attempt to delete it; A may delete it.
        assert a.get(f"/v1/webhook_endpoints/{a_endpoint['id']}").status_code == 200
        assert a.delete(f"/v1/webhook_endpoints/{a_endpoint['id']}").status_code == 204
        assert a.get(f"/v1/webhook_endpoints/{a_endpoint['id']}").status_code == 404
        assert b.delete(f"/v1/webhook_endpoints/{b_endpoint['id']}").status_code == 204


def test_registration_refuses_unknown_event_types_and_bad_urls(hooks_system: System) -> None:
    with hooks_system.client() as client:
        answer = client.post(
            "/v1/webhook_endpoints",
            json={"url": "http://127.0.0.1:9/x", "enabled_events": ["declaration.teleported"]},
        )
        assert answer.status_code == 422
        problem = answer.json()
        assert answer.headers["content-type"] == "application/problem+json"
        fields = {e["field"]: e["message"] for e in problem["errors"]}
        assert "declaration.teleported" in fields["enabled_events"]
        answer = client.post("/v1/webhook_endpoints", json={"url": "ftp://example.com/x"})
        assert answer.status_code == 422
        assert "url" in {e["field"] for e in answer.json()["errors"]}
        assert client.get("/v1/webhook_endpoints/we_nothing").status_code == 404
    # At most 16 endpoints an enterprise (each declaration fans out to all of them).
    with hooks_system.client(_enterprise(hooks_system, "Many hooks Co.")) as client:
        made = [
            client.post("/v1/webhook_endpoints", json={"url": f"http://127.0.0.1:9/{i}"})
            for i in range(17)
        ]
        assert [m.status_code for m in made] == [201] * 16 + [409]
        assert made[-1].json()["type"].endswith("/too-many-webhook-endpoints")
        for m in made[:16]:
            assert client.delete(f"/v1/webhook_endpoints/{m.json()['id']}").status_code == 204


def test_hardening_mode_delivers_some_events_twice_and_some_out_of_order(
    hooks_system: System, receiver: Receiver
) -> None:
    """Each event comes as many times as the delivery log's copies say; the copies share an id."""
    with hooks_system.client() as client:
        endpoint = _register(client, receiver, "/h", hardening=True)
        ids = [_submit(client) for _ in range(3)]
        for declaration_id in ids:
            hooks_system.wait_terminal(client, declaration_id)
        made = {d: [m["id"] for m in _status_messages(client, d)] for d in ids}
        total = sum(len(m) for m in made.values())
        log = wait_for(
            lambda: _all_succeeded(client, total, endpoint_id=endpoint["id"]),
            timeout_s=40,
            what="every hardening delivery to succeed",
        )
        assert client.delete(f"/v1/webhook_endpoints/{endpoint['id']}").status_code == 204
    copies: dict[str, int] = {}
    for d in log:
        copies[d["event_id"]] = copies.get(d["event_id"], 0) + 1
        assert d["duplicate"] == (copies[d["event_id"]] == 2)
    assert len(copies) == total
    got = [r for r in receiver.events("/h") if r.verified]
    received: dict[str, int] = {}
    for r in got:
        received[r.event["id"]] = received.get(r.event["id"], 0) + 1
    assert received == copies
    # Three declarations of ~8 events, ~30% dealt twice: none twice has odds 0.7^24 ≈ 2e-4.
    assert sum(copies.values()) > total
    # ~30% held back 1–3 s, overtaken by the declaration's next events (sent within ms).
    arrived = {
        d: list(dict.fromkeys(r.event["id"] for r in got if r.event["declaration_id"] == d))
        for d in ids
    }
    assert any(arrived[d] != made[d] for d in ids), arrived
    assert all(sorted(arrived[d]) == sorted(made[d]) for d in ids)


async def _send_again(system: System, declaration_id: str) -> int:
    """Produce every status message of a declaration onto the status topic again, unchanged."""
    bootstrap = system.broker
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, STATUS)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        copies: list[tuple[bytes | None, bytes | None]] = []
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                copies += [(r.key, r.value) for r in records if r.key == declaration_id.encode()]
    finally:
        await consumer.stop()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in copies:
            await producer.send_and_wait(system.topic(STATUS), value, key=key)
    finally:
        await producer.stop()
    return len(copies)


def test_a_status_message_delivered_again_makes_no_second_webhook(
    hooks_system: System, receiver: Receiver
) -> None:
    """Deliveries are made with the status change, not from the public topic: copies of its
    messages produced onto the topic again (as a replayed or duplicated topic would) make no
    second delivery, while the declarations that follow them are delivered as usual."""
    with hooks_system.client() as client:
        endpoint = _register(client, receiver, "/dup")
        declaration_id = _submit(client)
        hooks_system.wait_terminal(client, declaration_id)
        made = _status_messages(client, declaration_id)
        mine = {"declaration_id": declaration_id, "endpoint_id": endpoint["id"]}
        wait_for(
            lambda: _all_succeeded(client, len(made), **mine),
            timeout_s=30,
            what="the first deliveries",
        )
        # The topic holds one record per status change, and gets each again.
        assert asyncio.run(_send_again(hooks_system, declaration_id)) == len(made)
        after = _submit(client)  # written to the topic after the copies
        hooks_system.wait_terminal(client, after)
        later = {"declaration_id": after, "endpoint_id": endpoint["id"]}
        wait_for(
            lambda: _all_succeeded(client, len(_status_messages(client, after)), **later),
            timeout_s=30,
            what="the next declaration's deliveries",
        )
        log = _deliveries(client, **mine)
        assert client.delete(f"/v1/webhook_endpoints/{endpoint['id']}").status_code == 204
    assert len(log) == len(made) and all(d["attempts"] == 1 for d in log)
    got = [r.event["id"] for r in receiver.events("/dup", declaration_id)]
    assert sorted(got) == sorted(m["id"] for m in made)  # each once


def test_deliveries_pending_when_the_gateway_is_killed_are_delivered_after_restart(
    hooks_system: System,
) -> None:
    down = Receiver(port=free_port_block(1))  # not started: connections are refused
    with hooks_system.client() as client:
        endpoint = _register(client, down, "/k")
        declaration_id = _submit(client)
        hooks_system.wait_terminal(client, declaration_id)
        made = _status_messages(client, declaration_id)

        def refused() -> bool:
            found = _deliveries(client, declaration_id=declaration_id, endpoint_id=endpoint["id"])
            return len(found) == len(made) and all(d["attempts"] >= 1 for d in found)

        wait_for(refused, timeout_s=20, what="every delivery to have failed once")
        old_pid = hooks_system.pid_of("gateway")
        os.kill(old_pid, signal.SIGKILL)
        down.start()
        try:

            def restarted() -> bool:
                try:
                    return hooks_system.pid_of("gateway") != old_pid
                except httpx.HTTPError:
                    return False

            wait_for(restarted, timeout_s=60, what="the supervisor to restart the gateway")
            log = wait_for(
                lambda: _all_succeeded(
                    client, len(made), declaration_id=declaration_id, endpoint_id=endpoint["id"]
                ),
                timeout_s=40,
                what="the stored deliveries to be sent by the new gateway",
            )
            assert all(d["log"][0]["status_code"] is None for d in log)
            assert all("ConnectError" in (d["log"][0]["error"] or "") for d in log)
            assert all(d["log"][-1]["status_code"] == 200 for d in log)
            ok = {r.event["id"] for r in down.events("/k", declaration_id) if r.verified}
            assert ok == {m["id"] for m in made}
        finally:
            down.stop()
    assert "restarted gateway" in (hooks_system.data_dir / "up.log").read_text()


def test_the_python_client_example_runs_against_the_system(hooks_system: System) -> None:
    env = {
        **os.environ,
        "SINGLEWINDOW_URL": hooks_system.url("gateway"),
        "SINGLEWINDOW_API_KEY": hooks_system.api_key,
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "client.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "signature verified" in out
    assert "via webhook: completed" in out and "via polling: completed" in out
