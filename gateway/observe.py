"""The gateway's own metrics: saga step moves, and declarations by status."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select

from gateway.handlers import PARSED
from schemas.envelope import Envelope
from schemas.messages import StatusChanged
from services.common.changes import Held
from services.common.db import Record
from services.common.handling import Context, Handler, Outcome
from services.common.metrics import Labelled
from services.common.runtime import Runtime


class SagaMetrics:
    """`sw_saga_steps_total{step,state}` and `sw_declarations{status}` on the runtime's registry."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.steps = Counter(
            "sw_saga_steps_total",
            "Saga steps that moved to a state, by step and state",
            ["step", "state"],
            registry=runtime.metrics.registry,
        )
        self.steps_of = Labelled(self.steps)
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
            # The saga before the event, parsed once for the count and the handler (PARSED).
            before: Mapping[str, str] = PARSED.of(held).steps if held is not None else {}
            outcome = handler(envelope, held, ctx)
            for message in outcome.emit:
                if isinstance(message.payload, StatusChanged):
                    for step, state in message.payload.steps.items():
                        if before.get(step) != state:
                            self.steps_of(step, state).inc()
            return outcome

        return counted

    async def refresh_declarations(self) -> None:
        table = Record.__table__  # type: ignore[attr-defined]

        async with self.runtime.engine.connect() as conn:
            rows = await conn.execute(select(table.c.status, func.count()).group_by(table.c.status))
        self.declarations.clear()
        for status, n in rows:
            self.declarations.labels(status).set(int(n))
