"""The timeline lists a command the deadline watcher re-sent once, with its send attempts.

The gateway app runs as in tests/service/test_idempotent_routes.py (a real SQLite file, the
group commit, no broker); its own deadline watcher re-sends the unanswered first command.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from gateway.core.config import GatewayConfig
from gateway.saga.handlers import HANDLERS
from gateway.saga.watcher import DeadlineWatcher
from schemas.messages import FileDeclaration
from services.common.changes import OutRow
from services.common.runtime import Runtime
from services.common.settings import Settings
from tests.service import test_idempotent_routes as routes

gateway = routes.gateway  # the fixture, shared


async def test_a_resent_command_is_listed_once_with_its_attempts(
    gateway: routes.Gateway,
) -> None:
    before = time.time()
    declaration_id = await gateway.declare()
    resent: list[OutRow] = []
    runtime = Runtime(
        service="gateway", settings=Settings(), handlers=HANDLERS, topics=[], db=gateway.db
    )
    # The app's settings: a 10 s deadline, 5 attempts, the second try 2 × 10 s (+ ≤ 20%) later.
    watcher = DeadlineWatcher(runtime, GatewayConfig(10.0, 5), publish=resent.extend)
    second, third = before + 11, before + 11 + 25
    assert await watcher.check(second) == 1
    assert await watcher.check(third) == 1
    assert len(resent) == 2 and len({r.message_id for r in resent}) == 1

    lines = await gateway.scalar(
        "SELECT count(*) FROM journal WHERE message_id = :m", m=resent[0].message_id
    )
    assert lines == 3  # the journal keeps every send
    answer = await gateway.client.get(
        f"/v1/declarations/{declaration_id}/events", headers=gateway.trader
    )
    assert answer.status_code == 200, answer.text
    entries = answer.json()["data"]
    ids = [e["id"] for e in entries]
    assert len(ids) == len(set(ids)), ids
    (command,) = [e for e in entries if e["id"] == resent[0].message_id]
    assert command["type"] == FileDeclaration.TYPE and command["direction"] == "sent"
    assert command["sends"]["count"] == 3
    assert datetime.fromisoformat(command["sends"]["last_sent_at"]) == datetime.fromtimestamp(
        third, UTC
    )
    # The others: the status change sent once, the submission received (no sends).
    counts = {e["type"]: e["sends"] and e["sends"]["count"] for e in entries if e is not command}
    assert counts == {"declaration.submitted": None, "declaration.status.changed": 1}
