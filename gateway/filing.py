"""What the trader files on a running declaration (a receipt, a return): one saga unit each."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy import Connection

from gateway.api import run_on_saga
from gateway.handlers import GatewayConfig, put_saga, send, status_event
from gateway.saga import Saga
from schemas.base import Command
from services.common.changes import Changes, OutRow, load_records
from services.common.problems import Problem
from services.common.runtime import Runtime

R = TypeVar("R")
Build = Callable[[Saga, float], tuple[Command, Saga, R]]


async def file_command(
    runtime: Runtime,
    config: GatewayConfig,
    *,
    declaration_id: str,
    enterprise_id: str,
    build: Build[R],
) -> tuple[Saga, R]:
    """Send the command `build` makes of the saga (it raises a Problem when none applies),
    remembered as a pending step, with the saga and its status change, in one transaction."""

    def unit(conn: Connection) -> tuple[tuple[Saga, R], Sequence[OutRow]]:
        held = load_records(conn, [declaration_id]).get(declaration_id)
        if held is None or held.owner != enterprise_id:
            raise Problem(404, "not-found", "Not found", f"no declaration {declaration_id}")
        before = Saga.model_validate_json(held.data)
        now = time.time()
        command, ready, result = build(before, now)
        after, envelopes = send(ready, [command], cause=None, config=config, now=now)
        agency = command.TYPE.split(".", 1)[0]
        after = after.model_copy(update={"steps": {**after.steps, agency: "pending"}})
        changes = Changes()
        changes.put(put_saga(after, held))
        for envelope in envelopes:
            changes.emit(envelope)
        changes.emit(status_event(after, envelopes[0], before.state))
        return (after, result), changes.apply(conn)

    return await run_on_saga(runtime, unit)
