"""The webhook sender against a real HTTP/1.1 receiver over TCP, on a real database.

Each pass is driven by hand (`dispatch`, then the endpoint workers it started) instead of the
sender's timer, so each assertion follows a known set of attempts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from gateway.webhooks import store
from gateway.webhooks.rules import SIGNATURE_HEADER, verify
from gateway.webhooks.sender import WebhookConfig, WebhookSender
from services.common.database import Database
from tests.http_server import Server, serving
from tests.service.test_webhook_store import SEED, _endpoint, _status


@pytest.fixture
async def receiver() -> AsyncIterator[Server]:
    async with serving() as state:
        yield state


async def _closed_port() -> int:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = int(probe.sockets[0].getsockname()[1])
    probe.close()
    await probe.wait_closed()
    return port


async def _drain_once(sender: WebhookSender) -> int:
    due = await sender.dispatch(time.time())
    await asyncio.gather(*sender._workers)
    return due


async def test_each_answer_is_recorded_as_the_delivery_log_shows_it(
    db: Database, receiver: Server
) -> None:
    base = f"http://127.0.0.1:{receiver.port}/hooks"
    urls = {
        "we_ok": f"{base}/latin",
        "we_chunked": f"{base}/chunked",
        "we_missing": f"{base}/missing",
        "we_moved": f"{base}/moved",
        "we_slow": f"{base}/slow",
        "we_down": f"http://127.0.0.1:{await _closed_port()}/hooks/latin",
    }
    for endpoint_id, url in urls.items():
        await _endpoint(db, endpoint_id, "ent_a", url=url)
    events = [
        _status("d1", "ent_a", "submitted", "customs_review"),
        _status("d1", "ent_a", "in_progress", "releasing"),
        _status("d1", "ent_a", "completed", "completed"),
    ]
    now = time.time()
    await db.write(
        lambda conn: store.record_status_events(conn, events, seed=SEED, max_attempts=3, now=now)
    )
    sender = WebhookSender(db, WebhookConfig(timeout_s=0.5, backoff_s=60))
    sender.start()
    assert sender._task is not None
    sender._task.cancel()  # passes are driven by hand below
    try:
        assert await _drain_once(sender) == 3 * len(urls)
        assert await _drain_once(sender) == 0  # the failures wait for their backoff
    finally:
        await sender.stop()

    found = await db.read(lambda conn: store.find_deliveries(conn, enterprise_id="ent_a"))
    by_endpoint: dict[str, list[tuple[str, int | None, str | None, str | None]]] = {}
    for row, log in found:
        (attempt,) = log
        by_endpoint.setdefault(row.endpoint_id, []).append(
            (row.status, attempt.status_code, attempt.error, attempt.response_excerpt)
        )
    assert by_endpoint["we_ok"] == [("succeeded", 200, None, "reçu!")] * 3
    assert by_endpoint["we_chunked"] == [("succeeded", 200, None, "hello, world")] * 3
    assert by_endpoint["we_missing"] == [("pending", 404, "HTTP 404", "not found")] * 3
    assert by_endpoint["we_moved"] == [("pending", 302, "HTTP 302", None)] * 3  # not followed
    # The slow receiver times out each (on a fresh connection each: one that timed out is not
    # reused); the refused connection fails each.
    assert by_endpoint["we_slow"] == [("pending", None, "timeout after 0.5s", None)] * 3
    assert [s for s, _, _, _ in by_endpoint["we_down"]] == ["pending"] * 3
    assert all((e or "").startswith("ConnectError: ") for _, _, e, _ in by_endpoint["we_down"])

    # What the receiver read: every header the docs list, a valid signature, the event order
    # of the declaration kept, and one keep-alive connection for each endpoint's three POSTs.
    ok = [(r.headers, r.body) for r in receiver.requests if r.path == "/hooks/latin"]
    assert [h["sw-event-id"] for h, _ in ok] == [e.id for e in events]
    for headers, body in ok:
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"] == "singlewindow-webhooks/1.0"
        assert headers["host"] == f"127.0.0.1:{receiver.port}"
        assert headers["sw-delivery-attempt"] == "1"
        assert verify("whsec_we_ok", headers[SIGNATURE_HEADER.lower()], body, now=int(time.time()))
    assert receiver.connections == 4 + 3  # latin, chunked, missing, moved: one each; slow: three
