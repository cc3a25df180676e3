"""Saga deadlines on a real SQLite file: re-send the same command, stall, heal on a late answer."""

from __future__ import annotations

import json
import time

from gateway import saga as sagas
from gateway.core.config import GatewayConfig
from gateway.saga.handlers import HANDLERS, put_saga, send
from gateway.saga.watcher import DeadlineWatcher
from schemas.envelope import Envelope, new_envelope, reply
from schemas.messages import DeclarationSubmitted, FileDeclaration
from schemas.samples import sample_declaration
from schemas.trade import DeclarationData
from services.common.changes import Changes, OutRow, load_records
from services.common.database import Database
from services.common.handling import Processor
from services.common.runtime import Runtime
from services.common.settings import Settings
from tests.support import processor
from tests.unit.builders import green_acceptance


def gateway_processor(db: Database, config: GatewayConfig) -> Processor:
    """The gateway's batch processor: saga handlers, no replay of replies."""
    return processor("gateway", db, HANDLERS, config, replay_replies=False)


CONFIG = GatewayConfig(step_deadline_s=2.0, step_max_attempts=3)


async def started(db: Database, now: float) -> list[Envelope]:
    """Declaration d-1 of enterprise `ent`, its first commands sent at `now`: those commands."""
    declaration = DeclarationData.model_validate(sample_declaration())
    begun = sagas.start("d-1", "ent", declaration)
    saga, commands = send(begun.saga, begun.commands, cause=None, config=CONFIG, now=now)
    changes = Changes()
    # The submission's journal line: the filing a re-sent filing is rebuilt from.
    submitted = DeclarationSubmitted(enterprise_id="ent", declaration=declaration)
    changes.log(new_envelope(submitted, declaration_id="d-1", source="gateway"), "in")
    changes.put(put_saga(saga, None))
    for command in commands:
        changes.emit(command)
    await db.write(changes.apply)
    return commands


async def test_an_unanswered_command_is_resent_unchanged_then_the_declaration_stalls(
    db: Database,
) -> None:
    now = time.time()
    commands = await started(db, now)
    sent: list[OutRow] = []
    runtime = Runtime(service="gateway", settings=Settings(), handlers=HANDLERS, topics=[], db=db)
    watcher = DeadlineWatcher(runtime, CONFIG, publish=sent.extend)

    assert await watcher.check(now + 1) == 0  # not due yet
    assert await watcher.check(now + 2.5) == 1  # 2 s deadline passed: second attempt
    assert [r.message_id for r in sent] == [commands[0].id]
    assert json.loads(sent[0].value)["type"] == FileDeclaration.TYPE
    # Second try waits 2 × 2 s (+ up to 20% jitter), the third 2 × 4 s.
    assert await watcher.check(now + 2.5 + 3.9) == 0
    assert await watcher.check(now + 2.5 + 4.9) == 1
    assert await watcher.check(now + 100) == 1  # the third try has run out: stalled
    held = (await db.read(lambda conn: load_records(conn, ["d-1"])))["d-1"]
    stalled = sagas.Saga.model_validate_json(held.data)
    assert held.status == "stalled" and held.deadline is None
    assert (
        stalled.stalled_reason
        == "no answer from customs to customs.declaration.file after 3 attempts"
    )
    assert [json.loads(r.value)["type"] for r in sent[-1:]] == ["declaration.status.changed"]
    assert await watcher.check(now + 1000) == 0  # nothing more to do

    # A late answer still moves the declaration on.
    accepted = green_acceptance()
    processor = gateway_processor(db, CONFIG)
    out = await processor.process([reply(commands[0], accepted, source="customs")])
    assert [json.loads(r.value)["type"] for r in out] == [
        "customs.goods.release",
        "declaration.status.changed",
    ]
    held = (await db.read(lambda conn: load_records(conn, ["d-1"])))["d-1"]
    assert held.status == "in_progress"
    assert sagas.Saga.model_validate_json(held.data).pending[0].type == "customs.goods.release"
