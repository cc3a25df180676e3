"""The deadline watcher: finds sagas whose pending step is overdue and re-sends or stalls them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy import Connection

from gateway.core.config import GatewayConfig
from gateway.saga import filings
from gateway.saga.handlers import PARSED, due_pass
from gateway.saga.unit import SagaUnit
from services.common.changes import Changes, Held, OutRow, select_held
from services.common.db import Record
from services.common.every import Every
from services.common.runtime import Runtime

log = logging.getLogger(__name__)


def expire_due(
    changes: Changes,
    due: Sequence[Held],
    *,
    config: GatewayConfig,
    now: float,
    filed: filings.Filed,
) -> None:
    """Re-send the commands of sagas past a deadline; stall those out of tries."""
    for held in due:
        one = SagaUnit.of(changes, held, filed, PARSED.of(held))
        step = due_pass(one.saga, at=now, config=config)
        one.save(step.saga, resend=step.send, status=step.stalled, at=now)


class DeadlineWatcher(Every):
    """Checks deadlines on a timer; each pass is one transaction."""

    def __init__(
        self,
        runtime: Runtime,
        config: GatewayConfig,
        *,
        every_s: float = 0.5,
        publish: Callable[[Sequence[OutRow]], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.publish = publish or runtime.publish
        self.config = config
        # The deadline clock's tick; a check that fails is tried again at the next.
        super().__init__(
            "deadline check", every_s, lambda: self.check(time.time()), log=log, wait_first=True
        )

    async def check(self, now: float) -> int:
        """Handle every saga whose deadline has passed; return how many."""
        table = Record.__table__  # type: ignore[attr-defined]

        def unit(conn: Connection) -> tuple[int, list[OutRow]]:
            rows = conn.execute(
                select_held()
                .where(table.c.deadline.is_not(None), table.c.deadline <= now)
                .order_by(table.c.deadline)
                .limit(500)
                # Replicas share the overdue sagas: each takes those no other pass holds
                # (PostgreSQL; SQLite has one writer anyway and ignores it).
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return 0, []
            changes = Changes()
            expire_due(
                changes,
                [Held(*r) for r in rows],
                config=self.config,
                now=now,
                filed=filings.reader(conn),
            )
            return len(rows), changes.apply(conn)

        count, out = await self.runtime.db.write(unit)
        if not count:
            return 0
        log.info("re-sent overdue commands of %d declaration(s)", count)
        self.publish(out)
        return count
