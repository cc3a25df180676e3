"""Signed webhooks of every declaration's status changes: how deliveries are made, the sender.

How a delivery is created: in the same database transaction as the status change that causes
it. Status messages are written by several paths (agency events through the saga, the
deadline watcher stalling a step, operators' retry and cancel, the submission itself and the
accept lane, the pace of a class, the sandbox's test helpers, filings of payments and
returns) and more will come, but every one of them reaches the outbox through
`Changes.apply`. That is where the recorder below sits: it is the gateway Database's tap
(services/common/database.py), so it sees each transaction's status messages before they are
written and adds their webhook events and deliveries to the same transaction. A path added
later cannot miss webhooks, and nothing reads the public status topic back.

Exactly once, as before: a status change and its deliveries commit or roll back together (a
group commit's unit rolled back to its savepoint takes its deliveries with it), and an event
is keyed by its status message's id, so recording the same message twice creates nothing.
Deliveries go to the endpoints that exist when the status change commits (an endpoint
registered later gets the status changes from then on, as with any webhook provider).

Endpoint lookup on the hot path: `EndpointCache` keeps each enterprise's endpoints and reads
one row per transaction, the count of endpoint changes (`webhook_endpoints_version`, bumped in
the transaction of every change). A status change whose transaction reads that row after an
endpoint change committed, in any replica, sees the new count and reads the endpoints again:
no stale window, as a time-to-live would leave, and no query per message. On PostgreSQL
(no writer lock) a status change running while an endpoint is added may miss it, as it would
had it committed a moment earlier.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import Connection

from gateway.webhooks import store
from gateway.webhooks.rules import Subscriber
from gateway.webhooks.sender import WebhookConfig, WebhookSender
from schemas.envelope import Envelope, decode
from schemas.messages import StatusChanged
from schemas.topics import STATUS
from services.common.changes import Changes, OutRow
from services.common.runtime import Runtime

log = logging.getLogger(__name__)


class EndpointCache:
    """Each enterprise's endpoints as the routing rule sees them, read again after any change.

    On PostgreSQL a process has two writer threads (consumed batches, HTTP group commits)
    with this one tap: a lock keeps each look-up and its refill whole.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.reads = 0  # queries of the endpoints table (a cache miss)
        self._version = -1
        self._of: OrderedDict[str, tuple[Subscriber, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, conn: Connection, enterprise_ids: Iterable[str]) -> list[Subscriber]:
        """The endpoints of these enterprises, as of this transaction."""
        with self._lock:
            return self._endpoints(conn, enterprise_ids)

    def _endpoints(self, conn: Connection, enterprise_ids: Iterable[str]) -> list[Subscriber]:
        version = store.endpoints_version(conn)
        if version != self._version:
            self._of.clear()
            self._version = version
        wanted = set(enterprise_ids)
        missing = [e for e in wanted if e not in self._of]
        if missing:
            self.reads += 1
            found: dict[str, list[Subscriber]] = {e: [] for e in missing}
            for endpoint in store.subscribers(conn, missing):
                found[endpoint.enterprise_id].append(endpoint)
            for enterprise_id, endpoints in found.items():
                self._of[enterprise_id] = tuple(endpoints)
            while len(self._of) > self.limit:
                self._of.popitem(last=False)
        return [endpoint for e in wanted for endpoint in self._of.get(e, ())]


class StatusRecorder:
    """The gateway Database's tap: webhooks of the status messages a transaction writes."""

    def __init__(self, config: WebhookConfig, *, seed: int) -> None:
        self.config = config
        self.seed = seed
        self.endpoints = EndpointCache()
        self.queued = False  # deliveries were queued since the sender was last woken
        # Told of each transaction's status messages too (gateway/saga/observe.py: StatusCounts).
        self.listeners: list[Callable[[Connection, Changes, Sequence[Envelope]], None]] = []

    def __call__(self, conn: Connection, changes: Changes) -> None:
        """Record the webhook events and deliveries of `changes`' status messages."""
        statuses = [e for e in changes.emitted if isinstance(e.payload, StatusChanged)]
        if len(statuses) < sum(1 for row in changes.outbox if row.topic == STATUS):
            # A status row queued as bytes, not through `emit`: decoded, so it is not missed.
            known = {e.id for e in statuses}
            statuses.extend(
                decode(row.value)
                for row in changes.outbox
                if row.topic == STATUS and row.message_id not in known
            )
        if not statuses:
            return
        for listener in self.listeners:
            listener(conn, changes, statuses)
        recorded = store.record_status_events(
            conn,
            statuses,
            seed=self.seed,
            max_attempts=self.config.max_attempts,
            now=time.time(),
            endpoints=self.endpoints,
        )
        if recorded.deliveries:
            self.queued = True


class Webhooks:
    """The webhook machinery of one gateway process: the recorder, installed on the runtime
    before it starts (every process that writes status changes needs it, whatever else it
    runs), and the sender (the lifespan starts and stops it where deliveries are sent)."""

    def __init__(self, runtime: Runtime, config: WebhookConfig) -> None:
        self.runtime = runtime
        self.config = config
        self.recorder = StatusRecorder(config, seed=runtime.settings.run_seed)
        runtime.tap = self.recorder
        runtime.committed.append(self.committed)
        self._sender: WebhookSender | None = None

    @property
    def sender(self) -> WebhookSender:
        """The running sender."""
        if self._sender is None:
            raise RuntimeError("webhooks not started")
        return self._sender

    def wake(self) -> None:
        """Send due deliveries now; a process without the `webhooks` role leaves them to the
        sender of one that has it (its next tick)."""
        try:
            sender = self.sender
        except RuntimeError:  # not started here
            return
        sender.wake()

    def committed(self, _rows: Sequence[OutRow]) -> None:
        """After a commit: wake the sender when deliveries were queued (else it polls)."""
        if self.recorder.queued and self._sender is not None:
            self.recorder.queued = False
            self._sender.wake()

    async def start(self) -> None:
        """Start the sender (after `runtime.start()`)."""
        self._sender = WebhookSender(
            self.runtime.db, self.config, registry=self.runtime.metrics.registry
        )
        self._sender.start()

    async def stop(self) -> None:
        """Stop sending (before `runtime.stop()`)."""
        if self._sender is not None:
            await self._sender.stop()
