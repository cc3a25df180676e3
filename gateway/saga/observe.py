"""The gateway's own metrics: saga step moves, and declarations entering and leaving statuses.

Status counts are counters kept as status changes commit (no query at each scrape): every
status change passes through the Database's tap (gateway/webhooks/recorder.py, StatusRecorder), which
hands it to `StatusCounts`; the counts are added once the transaction commits. Each replica
exports its own; `sum(entered) - sum(left)` over replicas is how many a status holds (since
the processes started: a restarted one begins again at 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Connection

from gateway.saga import TERMINAL
from gateway.saga.handlers import PARSED
from schemas.envelope import Envelope
from schemas.messages import StatusChanged
from services.common.changes import Changes, Held
from services.common.database import after_commit
from services.common.handling import Context, Handler, Outcome
from services.common.metrics import Labelled
from services.common.runtime import Runtime


class SagaMetrics:
    """`sw_saga_steps_total{step,state}` and the status counts on the runtime's registry."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.steps = Counter(
            "sw_saga_steps_total",
            "Saga steps that moved to a state, by step and state",
            ["step", "state"],
            registry=runtime.metrics.registry,
        )
        self.steps_of = Labelled(self.steps)
        self.statuses = StatusCounts(runtime.metrics.registry)

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


# What `public_status` answers (gateway/saga/).
PUBLIC_STATUSES = ("submitted", "in_progress", "stalled", *sorted(TERMINAL))


class StatusCounts:
    """`sw_declaration_status_entered_total{status}` and `..._left_total{status}`: told by the
    tap of each transaction's status messages, counted from its record writes once it commits."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.entered = Labelled(
            Counter(
                "sw_declaration_status_entered_total",
                "Declarations that entered a public status (counted as the change commits)",
                ["status"],
                registry=registry,
            )
        )
        self.left = Labelled(
            Counter(
                "sw_declaration_status_left_total",
                "Declarations that left a public status (counted as the change commits)",
                ["status"],
                registry=registry,
            )
        )
        for status in PUBLIC_STATUSES:  # exported at 0 from the start: `stalled` reads 0
            self.entered(status)
            self.left(status)

    def __call__(self, conn: Connection, changes: Changes, statuses: Sequence[Envelope]) -> None:
        """Count the status moves of the declarations these status messages are of."""
        declarations = {e.declaration_id for e in statuses}
        moves = [
            (put.was, put.status)
            for key, put in changes.puts.items()
            if key in declarations and put.was != put.status
        ]
        if moves:
            after_commit(conn, partial(self._count, moves))

    def _count(self, moves: list[tuple[str | None, str]]) -> None:
        for was, status in moves:
            if was is not None:
                self.left(was).inc()
            self.entered(status).inc()
