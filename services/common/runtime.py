"""What one service process runs: database, producer, consumer loop and outbox relay."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.bus import ensure_topics, make_consumer, make_producer, rotator
from services.common.changes import OutRow
from services.common.consumer import ConsumerLoop, Rest
from services.common.database import Database, Tap
from services.common.db import create_tables_sync, make_engine
from services.common.doorbell import Listener, Ringer
from services.common.generations import Gate, Rotator
from services.common.groupcommit import GroupCommit
from services.common.handling import Handler, Processor
from services.common.metrics import Metrics
from services.common.relay import OutboxRelay
from services.common.retention import Policy, Retention, claim
from services.common.settings import Settings

log = logging.getLogger(__name__)


T = TypeVar("T")


def _started(part: T | None) -> T:
    """A part the runtime makes when it starts; asked for before that, an error."""
    if part is None:
        raise RuntimeError("runtime not started")
    return part


class Runtime:
    """Owns a service's connections; the FastAPI lifespan starts and stops it."""

    def __init__(
        self,
        *,
        service: str,
        settings: Settings,
        handlers: Mapping[str, Handler],
        topics: Sequence[str],
        engine: AsyncEngine | None = None,
        db: Database | None = None,
        reference: Any = None,
        replay_replies: bool = True,
        extra_tables: Sequence[Any] = (),
        consume: bool = True,
        final_statuses: frozenset[str] | None = None,
        purge_rows: Callable[[Connection, Sequence[str]], None] | None = None,
        tap: Tap | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.handlers = handlers
        self.topics = topics
        self.reference = reference
        self.replay_replies = replay_replies
        self.extra_tables = extra_tables
        self.consume = consume  # False: a process that only writes (a gateway without `saga`)
        self.policy = Policy(
            retention_s=settings.retention_days * 86400,
            inbox_window_s=settings.inbox_window_days * 86400,
            final_statuses=final_statuses,
            purge_rows=purge_rows,
        )
        self.tap = tap  # see services/common/database.py: Tap
        # Told of the outbox rows of every transaction once it has committed (OutboxRelay).
        self.committed: list[Callable[[Sequence[OutRow]], None]] = []
        self.metrics = Metrics(service)
        # Run before each /metrics scrape, to refresh gauges that cost a query (consumer lag).
        self.scrape_hooks: list[Callable[[], Awaitable[None]]] = [self._refresh_lag]
        self.lock = asyncio.Lock()
        self._engine = engine
        self._db = db
        self._producer: AIOKafkaProducer | None = None
        self._loop: ConsumerLoop | None = None
        self._relay: OutboxRelay | None = None
        self._intake: GroupCommit | None = None
        folder = settings.doorbell_dir
        self.ringer = Ringer(folder) if folder else None
        self._listeners: list[Listener] = []
        self._intake_db: Database | None = None
        self._processor: Processor | None = None
        self._retention: Retention | None = None
        self._rotator: Rotator | None = None

    @property
    def engine(self) -> AsyncEngine:
        """The service's database engine."""
        return _started(self._engine)

    @property
    def db(self) -> Database:
        """The hot path's database: whole transactions in one worker thread."""
        return _started(self._db)

    @property
    def intake(self) -> GroupCommit:
        """Group commit for the HTTP write path."""
        return _started(self._intake)

    @property
    def relay(self) -> OutboxRelay:
        """The outbox relay."""
        return _started(self._relay)

    async def start(self) -> None:
        """Connect everything; returns once the consumer is running."""
        if self._engine is None:
            if not self.settings.database_url:
                self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            self._engine = make_engine(self.settings.database_url_of(self.service))
        if self._db is None:
            self._db = Database(
                self.settings.database_url_of(self.service), name=f"db-{self.service}"
            )
        if self.tap is not None:
            self._db.tap = self.tap
        await self._db.write(lambda conn: create_tables_sync(conn, self.extra_tables))
        await ensure_topics(self.settings)
        if self.settings.generations().on:
            self._rotator = rotator(self.settings, claim=self._generation_claim)
            if self.service == "gateway":  # one turner a system; its replicas share the turn
                self._rotator.start()
        self._producer = make_producer(self.settings)
        await self._producer.start()
        self._relay = OutboxRelay(
            db=self._db,
            producer=self._producer,
            metrics=self.metrics,
            ringer=self.ringer,
            watchers=self.committed,
            generations=self.settings.generations(),
            prepare=self._rotator.prepare if self._rotator else None,
        )
        self._relay.start()
        # HTTP writes commit beside consumed batches, each on its own connection (PostgreSQL).
        self._intake_db = self._db.writer("http")
        self._intake = GroupCommit(self._intake_db, self._relay.publish)
        self._intake.start()
        self._processor = processor = Processor(
            service=self.service,
            db=self._db,
            handlers=self.handlers,
            metrics=self.metrics,
            run_seed=self.settings.run_seed,
            reference=self.reference,
            replay_replies=self.replay_replies,
            counter_block=self.settings.counter_block,
        )
        self._retention = Retention(
            db=self._db,
            policy=self.policy,
            metrics=self.metrics,
            every_s=self.settings.retention_every_s,
            holder=f"{self.service}:{os.getpid()}",
        )
        self._retention.start()
        if not self.consume:
            log.info("%s not consuming (its role does not)", self.service)
            return
        consumer = make_consumer(
            self.settings, self.topics, group=self.settings.group_of(self.service)
        )
        await consumer.start()
        self._loop = ConsumerLoop(
            consumer=consumer,
            processor=processor,
            relay=self._relay,
            batch_max=self.settings.batch_max,
            rest=self.rest(self.topics),
            gate=self.gate(),
        )
        self._loop.start()
        log.info("%s consuming %s", self.service, ", ".join(self.topics))

    async def stop(self) -> None:
        """Stop consuming, flush the relay, close connections."""
        if self._rotator:
            await self._rotator.stop()
        if self._retention:
            await self._retention.stop()
        if self._loop:
            await self._loop.stop()
            await self._loop.consumer.stop()
        if self._processor:
            await self._processor.give_back()
        if self._intake:
            await self._intake.stop()
        if self._relay:
            await self._relay.stop()
        if self._producer:
            await self._producer.stop()
        if self._engine:
            await self._engine.dispose()
        if self._intake_db is not None and self._intake_db is not self._db:
            self._intake_db.dispose()
        if self._db:
            self._db.dispose()
        for listener in self._listeners:
            listener.close()
        if self.ringer:
            self.ringer.close()

    async def _generation_claim(self) -> bool:
        every_s = self.settings.topic_generation_s * 0.9  # once a period, whoever is first
        holder = f"{self.service}:{os.getpid()}"
        return await self.db.write(
            lambda conn: claim(
                conn, now=time.time(), every_s=every_s, holder=holder, job="topic-generations"
            )
        )

    def gate(self) -> Gate | None:
        """The generation gate of a consumer loop (None with generations off)."""
        gens = self.settings.generations()
        return Gate(gens) if gens.on else None

    def rest(self, topics: Sequence[str]) -> Rest:
        """When a consumer of these topics rests, and its doorbell if there are doorbells."""
        listener = None
        if self.settings.doorbell_dir:
            listener = Listener(self.settings.doorbell_dir, topics)
            self._listeners.append(listener)
        return Rest(self.settings.idle_after_s, self.settings.idle_poll_seconds, listener)

    def publish(self, rows: Sequence[OutRow]) -> None:
        """Hand committed outbox rows to the relay."""
        self.relay.publish(rows)

    async def _refresh_lag(self) -> None:
        if self._loop is not None:
            await self._loop.refresh_lag()

    async def before_scrape(self) -> None:
        """Refresh the gauges computed on demand; one that fails is logged, not fatal."""
        for hook in self.scrape_hooks:
            try:
                await hook()
            except Exception:
                log.warning("a metrics refresh failed", exc_info=True)

    async def readiness(self) -> dict[str, bool]:
        """Which dependencies answer: the database and the consumer group."""
        checks = {"database": False}
        if self.consume:
            checks["consumer"] = bool(self._loop and self._loop.ready.is_set())
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = True
        except Exception:
            log.exception("database check failed")
        return checks
