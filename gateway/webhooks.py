"""Signed webhooks of every declaration's status changes: the intake, the sender, their lifespan.

How a delivery is created: by a consumer of the public status topic (`sw.declarations.status`,
consumer group `sw-gateway-webhooks`), not inside the transactions that change a saga.

Why a consumer. Status messages are written by several paths (agency events through the saga,
the deadline watcher stalling a step, operators' retry and cancel, the submission itself, the
pace of a class, the sandbox's test helpers) and more will come; the topic is the one place
they all pass, so webhooks cannot miss a path added later, and the saga's hot transaction does
not grow an endpoint lookup per message. The consumer is exactly as safe as a write in the same
transaction: each batch is one database transaction in which the status messages' ids are
checked against `webhook_events` (its primary key is the status message id: the inbox) and the
new events and their deliveries are inserted (unique per endpoint, event and copy); offsets are
committed only after it. A crash before the commit replays the batch and the inbox makes the
replay create nothing; a redelivered status message makes no second delivery.

What it costs: a few milliseconds of Kafka latency between the status change and the delivery,
and events only for endpoints that exist when the status message is consumed (an endpoint
registered later gets the status changes from then on, as with any webhook provider).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Connection

from gateway import webhook_store as store
from gateway.webhook_sender import WebhookConfig, WebhookSender
from schemas.envelope import Envelope
from schemas.topics import STATUS
from services.common.bus import make_consumer
from services.common.changes import Changes
from services.common.consumer import ConsumerLoop
from services.common.handling import Processor
from services.common.runtime import Runtime

GROUP = "sw-gateway-webhooks"


class StatusIntake(Processor):
    """A batch of status messages → events and deliveries, in one transaction (see above)."""

    def __init__(self, runtime: Runtime, config: WebhookConfig, sender: WebhookSender) -> None:
        super().__init__(
            service="gateway",
            db=runtime.db,
            handlers={},
            metrics=runtime.metrics,
            run_seed=runtime.settings.run_seed,
        )
        self.config = config
        self.sender = sender
        self._created = 0

    def handle_batch(self, conn: Connection, batch: Sequence[Envelope], changes: Changes) -> None:
        """Record the batch's status changes (`webhook_events` is this intake's inbox)."""
        recorded = store.record_status_events(
            conn,
            batch,
            seed=self.run_seed,
            max_attempts=self.config.max_attempts,
            now=time.time(),
        )
        self._created = recorded.deliveries
        self.metrics.duplicates.inc(recorded.duplicates)

    def after_commit(self) -> None:
        """Wake the sender when the batch queued deliveries."""
        if self._created:
            self._created = 0
            self.sender.wake()


class Webhooks:
    """The webhook machinery of one gateway process; the lifespan starts and stops it."""

    def __init__(self, runtime: Runtime, config: WebhookConfig) -> None:
        self.runtime = runtime
        self.config = config
        self._sender: WebhookSender | None = None
        self._loop: ConsumerLoop | None = None

    @property
    def sender(self) -> WebhookSender:
        """The running sender."""
        if self._sender is None:
            raise RuntimeError("webhooks not started")
        return self._sender

    async def start(self) -> None:
        """Start the sender, then the intake (after `runtime.start()`)."""
        self._sender = WebhookSender(
            self.runtime.db, self.config, registry=self.runtime.metrics.registry
        )
        self._sender.start()
        consumer = make_consumer(self.runtime.settings, [STATUS], group=GROUP)
        await consumer.start()
        self._loop = ConsumerLoop(
            consumer=consumer,
            processor=StatusIntake(self.runtime, self.config, self._sender),
            relay=self.runtime.relay,
            batch_max=self.runtime.settings.batch_max,
            rest=self.runtime.rest([STATUS]),
        )
        self._loop.start()

    async def stop(self) -> None:
        """Stop consuming and sending (before `runtime.stop()`)."""
        if self._loop is not None:
            await self._loop.stop()
            await self._loop.consumer.stop()
        if self._sender is not None:
            await self._sender.stop()
