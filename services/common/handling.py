"""How a service reacts to a message: handler functions routed by type, run a batch at a time."""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from schemas.deadletter import DeadLetter
from schemas.envelope import Envelope, now
from schemas.registry import topic_of
from services.common import tracing
from services.common.changes import (
    Changes,
    Held,
    OutRow,
    Put,
    load_records,
    replayed_rows,
    seen_messages,
)
from services.common.database import Database
from services.common.metrics import Metrics

log = logging.getLogger(__name__)


def log_context(envelope: Envelope) -> dict[str, str]:
    """The fields a log line about a message carries (JSON logs show them as keys)."""
    return {
        "declaration_id": envelope.declaration_id,
        "correlation_id": envelope.correlation_id,
        "message_id": envelope.id,
        "message_type": envelope.type,
    }


class HandlerError(Exception):
    """A message that cannot be acted on; `retriable` tells the loop to retry or dead-letter it."""

    retriable = False

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler may know beyond the message: the clock, the seed, reference data.

    `now` is the time to decide as of: real time, plus the sandbox clock's offset that the
    message carries (Envelope.clock_offset_s), so agencies' dates move with the sandbox clock.
    """

    service: str
    run_seed: int
    now: datetime
    reference: Any = None
    # Another record of this service by key (e.g. a buyer's ledger), as this batch sees it.
    lookup: Callable[[str], Held | None] | None = None

    def record(self, key: str) -> Held | None:
        """The record of a key other than the message's declaration, or None."""
        return self.lookup(key) if self.lookup is not None else None

    def rng(self, declaration_id: str, step: str) -> random.Random:
        """The generator of one decision, seeded by (run seed, declaration id, step)."""
        digest = hashlib.sha256(f"{self.run_seed}|{declaration_id}|{step}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(slots=True)
class Outcome:
    """What a handler decided: the record to write (if any) and the messages to emit."""

    put: Put | None = None
    emit: list[Envelope] = field(default_factory=list)
    also: list[Put] = field(default_factory=list)  # other records, written in the same unit
    # Emitted envelopes the handler has serialized already (`to_bytes()`), by id: not again.
    encoded: dict[str, bytes] = field(default_factory=dict)


Handler = Callable[[Envelope, Held | None, Context], Outcome]


class Processor:
    """Handles consumed batches: one transaction each, inbox-deduplicated, outbox-emitting."""

    def __init__(
        self,
        *,
        service: str,
        db: Database,
        handlers: Mapping[str, Handler],
        metrics: Metrics,
        run_seed: int,
        reference: Any = None,
        replay_replies: bool = True,
    ) -> None:
        self.service = service
        self.db = db
        self.handlers = handlers
        self.metrics = metrics
        self.run_seed = run_seed
        self.reference = reference
        # Agencies answer a re-sent command with the replies they made the first time, so a
        # gateway whose reply was lost (a broker that forgot) hears it again. The gateway must
        # not do the same for events, or the two would echo each other for ever.
        self.replay_replies = replay_replies

    async def process(
        self,
        batch: Sequence[Envelope],
        dead: Sequence[DeadLetter] = (),
        published: Sequence[str] = (),
        received: Mapping[str, bytes] | None = None,
    ) -> list[OutRow]:
        """Handle a batch in one transaction (one hop to the DB thread); return rows to publish.

        `published` are outbox ids the relay has sent; deleting them rides on this transaction.
        `received` are the bytes each message came as, by id, for the journal.
        """
        started = time.perf_counter()
        rows = await self.db.write(
            lambda conn: self._process(conn, batch, dead, published, received or {})
        )
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.after_commit()
        return rows

    def _process(
        self,
        conn: Connection,
        batch: Sequence[Envelope],
        dead: Sequence[DeadLetter],
        published: Sequence[str],
        received: Mapping[str, bytes],
    ) -> list[OutRow]:
        changes = Changes(published=list(published), received=received)
        for letter in dead:  # what could not be decoded is parked, whoever takes the batch
            changes.dead_letter(letter)
        self.handle_batch(conn, batch, changes)
        return changes.apply(conn)

    def handle_batch(self, conn: Connection, batch: Sequence[Envelope], changes: Changes) -> None:
        """Act on a batch inside its transaction, adding what it decides to `changes`.

        The extension point of a consumer that takes messages another way: the transaction,
        the dead letters, the relay's published ids and the batch timing stay the kit's.
        This default deduplicates against the inbox and runs each fresh message's handler.
        """
        seen = seen_messages(conn, [e.id for e in batch])
        fresh: list[Envelope] = []
        for envelope in batch:
            if envelope.id in seen:
                self.metrics.duplicates.inc()
                replies = seen[envelope.id]
                if self.replay_replies and replies:
                    changes.emit_raw(replayed_rows(replies))
            else:
                seen[envelope.id] = None  # a second copy inside this batch is a duplicate too
                fresh.append(envelope)
        held = load_records(conn, (e.declaration_id for e in fresh))

        def lookup(key: str) -> Held | None:
            if key not in held:
                found = load_records(conn, [key]).get(key)
                if found is None:
                    return None
                held[key] = found
            return held[key]

        ctx = Context(self.service, self.run_seed, now(), self.reference, lookup)
        for envelope in fresh:
            self._handle_one(envelope, held, ctx, changes)

    def after_commit(self) -> None:
        """Called once a batch's transaction has committed (a hook; by default nothing)."""

    def _handle_one(
        self, envelope: Envelope, held: dict[str, Held], ctx: Context, changes: Changes
    ) -> None:
        if envelope.clock_offset_s:  # sandbox: decide as of the declaration's simulated time
            ctx = replace(ctx, now=envelope.sandbox_time(ctx.now))
        with tracing.message_span(self.service, envelope, topic_of(envelope.payload)) as span:
            self._decide(envelope, held, ctx, changes, span)

    def _decide(
        self, envelope: Envelope, held: dict[str, Held], ctx: Context, changes: Changes, span: Any
    ) -> None:
        handler = self.handlers.get(envelope.type)
        try:
            if handler is None:
                raise HandlerError("not_handled", f"{self.service} does not handle {envelope.type}")
            started = time.perf_counter()
            outcome = handler(envelope, held.get(envelope.declaration_id), ctx)
            self.metrics.handler_seconds_of(envelope.type).observe(time.perf_counter() - started)
        except HandlerError as exc:
            if span is not None:
                span.set_attribute("sw.outcome", f"dead_letter:{exc.code}")
            self._reject(envelope, exc.code, exc.detail, changes)
            return
        except Exception as exc:  # a bug must not stop the consumer: park the message, say why
            if span is not None:
                span.record_exception(exc)
            log.exception("handler failed", extra=log_context(envelope))
            self._reject(envelope, "handler_error", f"{type(exc).__name__}: {exc}", changes)
            return
        for put in (outcome.put, *outcome.also):
            if put is not None:
                changes.put(put)
                held[put.key] = put.held()
        changes.log(envelope, "in")  # the cause before its effects in the journal
        replies = [changes.emit(e, value=outcome.encoded.get(e.id)) for e in outcome.emit]
        changes.handled(envelope, replies, journal=False)
        self.metrics.handled_of(envelope.type, "ok").inc()

    def _reject(self, envelope: Envelope, code: str, detail: str, changes: Changes) -> None:
        self.metrics.handled_of(envelope.type, "dead_letter").inc()
        self.metrics.dead_letters.labels(code).inc()
        log.warning(
            "dead-lettered %s %s: %s",
            envelope.type,
            envelope.id,
            detail,
            extra=log_context(envelope),
        )
        changes.handled(envelope, None)
        changes.dead_letter(
            DeadLetter(
                reason=detail,
                kind=code,
                service=self.service,
                topic=topic_of(envelope.payload),
                partition=-1,
                offset=-1,
                key=envelope.declaration_id,
                value=envelope.model_dump_json(),
                message_id=envelope.id,
                at=now(),
            )
        )
