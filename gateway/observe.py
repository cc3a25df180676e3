"""The gateway's own metrics: saga step moves, and declarations by status."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select

from schemas.envelope import Envelope
from schemas.messages import StatusChanged
from services.common.changes import Held
from services.common.db import Record
from services.common.handling import Context, Handler, Outcome
from services.common.runtime import Runtime

REMEMBERED = 20_000  # sagas whose steps are remembered; the least recently moved are forgotten


class SagaMetrics:
    """`sw_saga_steps_total{step,state}` and `sw_declarations{status}` on the runtime's registry."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # Each saga's steps as this process last wrote them, by record version: counting a
        # move needs the steps before it, and parsing the record again cost as much as the
        # rest of the count (a tenth of the saga's handling).
        self._known: OrderedDict[str, tuple[int, Mapping[str, str]]] = OrderedDict()
        self.steps = Counter(
            "sw_saga_steps_total",
            "Saga steps that moved to a state, by step and state",
            ["step", "state"],
            registry=runtime.metrics.registry,
        )
        self.declarations = Gauge(
            "sw_declarations",
            "Declarations the gateway holds, by public status (refreshed on each scrape)",
            ["status"],
            registry=runtime.metrics.registry,
        )
        runtime.scrape_hooks.append(self.refresh_declarations)

    def counted(self, handlers: Mapping[str, Handler]) -> dict[str, Handler]:
        """The same handlers, counting each step whose state an outcome changes."""
        return {t: self._wrap(h) for t, h in handlers.items()}

    def _wrap(self, handler: Handler) -> Handler:
        def counted(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
            outcome = handler(envelope, held, ctx)
            before = self._steps_before(held)
            after: Mapping[str, str] | None = None
            for message in outcome.emit:
                if isinstance(message.payload, StatusChanged):
                    after = message.payload.steps
                    for step, state in after.items():
                        if before.get(step) != state:
                            self.steps.labels(step, state).inc()
            if held is not None and after is not None and outcome.put is not None:
                self._remember(held.key, held.version + 1, after)
            return outcome

        return counted

    def _steps_before(self, held: Held | None) -> Mapping[str, str]:
        """The saga's steps before this event: remembered from the last outcome of this
        process if the record is still that version, else read from the record."""
        if held is None:
            return {}
        known = self._known.get(held.key)
        if known is not None and known[0] == held.version:
            return known[1]
        steps: dict[str, str] = json.loads(held.data).get("steps", {})
        return steps

    def _remember(self, key: str, version: int, steps: Mapping[str, str]) -> None:
        self._known[key] = (version, steps)
        self._known.move_to_end(key)
        if len(self._known) > REMEMBERED:
            self._known.popitem(last=False)

    async def refresh_declarations(self) -> None:
        table = Record.__table__  # type: ignore[attr-defined]

        async with self.runtime.engine.connect() as conn:
            rows = await conn.execute(select(table.c.status, func.count()).group_by(table.c.status))
        self.declarations.clear()
        for status, n in rows:
            self.declarations.labels(status).set(int(n))
