"""How a service reacts to a message: handler functions routed by type, run a batch at a time."""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection

from schemas.base import Command
from schemas.deadletter import DeadLetter
from schemas.envelope import Envelope, now
from schemas.registry import topic_of
from schemas.scenarios import withholds
from services.common import tracing
from services.common.changes import (
    Changes,
    Held,
    OutRow,
    Put,
    is_conflict,
    load_records,
    replayed_rows,
    seen_messages,
)
from services.common.counters import BlockCounters, Ticket
from services.common.database import Database, commit_mark, forget_since
from services.common.metrics import Metrics
from services.common.rawsql import Driver

log = logging.getLogger(__name__)

# Conflicts one transaction absorbs before it gives up (the consumer then retries the batch).
MAX_CONFLICTS = 5


def log_context(envelope: Envelope) -> dict[str, str]:
    """The fields a log line about a message carries (JSON logs show them as keys)."""
    return {
        "declaration_id": envelope.declaration_id,
        "correlation_id": envelope.correlation_id,
        "message_id": envelope.id,
        "message_type": envelope.type,
    }


class HandlerError(Exception):
    """A message that cannot be acted on: not `retriable` (is_conflict), so the processor
    refuses it (dead letter) instead of trying again."""

    retriable = False

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def only_once(held: Held | None, code: str, detail: str) -> None:
    """Refuse a decision the declaration already has (a new command asking it again)."""
    if held is not None:
        raise HandlerError(code, detail)


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
    # The process's hot counters, handed out in blocks (None: one number a claim).
    counters: BlockCounters | None = None

    def record(self, key: str) -> Held | None:
        """The record of a key other than the message's declaration, or None."""
        return self.lookup(key) if self.lookup is not None else None

    def ticket(self, key: str) -> Ticket:
        """The next number of a counter record (services/common/counters.py), not yet taken."""
        counters = self.counters if self.counters is not None else BlockCounters(1)
        return counters.peek(key, self.record(key) if counters.needs_record(key) else None)

    def take(self, ticket: Ticket) -> list[Put]:
        """Give out a ticket's number; the record writes that must go with it."""
        return (self.counters or BlockCounters(1)).take(ticket)

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
# An agency's handler: the command comes typed, as the class it is routed by.
CommandHandler = Callable[[Any, Envelope, Held | None, Context], Outcome]


def by_command(agency: str, handlers: Mapping[type[Command], CommandHandler]) -> dict[str, Handler]:
    """An agency's routing table, from its handlers keyed by command class.

    Each handler receives its command typed. A sandbox stall aimed at this agency is withheld
    here, for every command: no answer, nothing written; a test helper's new command decides.
    """
    return {model.TYPE: _typed(agency, model, handler) for model, handler in handlers.items()}


def _typed(agency: str, model: type[Command], handler: CommandHandler) -> Handler:
    def handle(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
        command = envelope.payload
        if not isinstance(command, model):  # the registry decodes `type` to this very model
            raise HandlerError("wrong_payload", f"{envelope.type} carries no {model.__name__}")
        if withholds(getattr(command, "scenario", None), agency):
            return Outcome()
        return handler(command, envelope, held, ctx)

    handle.__name__ = handle.__qualname__ = getattr(handler, "__name__", model.__name__)
    return handle


@dataclass(kw_only=True, eq=False)
class Processor:
    """Handles consumed batches: one transaction each, inbox-deduplicated, outbox-emitting."""

    service: str
    db: Database
    handlers: Mapping[str, Handler]
    metrics: Metrics
    run_seed: int
    reference: Any = None
    # Agencies answer a re-sent command with the replies they made the first time, so a
    # gateway whose reply was lost (a broker that forgot) hears it again. The gateway must
    # not do the same for events, or the two would echo each other for ever.
    replay_replies: bool = True
    counter_block: int = 1
    counters: BlockCounters = field(init=False)
    # What the transaction in progress counts (in the database thread, which runs one at a
    # time): counted once it commits, not per attempt.
    _counted: list[Any] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.counters = BlockCounters(self.counter_block)

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
        rows: list[OutRow] = []
        todo = list(batch)
        while todo or dead or published:
            mark = self.counters.mark()
            try:
                written, todo, counted = await self.db.write(
                    partial(
                        self._process,
                        batch=todo,
                        dead=dead,
                        published=published,
                        received=received or {},
                    )
                )
            except BaseException:
                self.counters.restore(mark)  # nothing was written: neither were its claims
                raise
            rows.extend(written)
            for metric in counted:
                metric.inc()
            dead, published = (), ()  # written; what is left met a conflict: again alone
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
    ) -> tuple[list[OutRow], list[Envelope], list[Any]]:
        """Write the batch; return its outbox rows, the messages left for another transaction
        because they met a concurrent writer's row, and the metrics to count once committed.

        On PostgreSQL the batch runs in a savepoint: a conflict rolls back to it, the
        messages it hit (and those that built on them) are set aside for a follow-up
        transaction, and the rest are handled again (reading afresh) and commit now.
        """
        guarded = conn.dialect.name == "postgresql"  # SQLite: one writer, no conflicts
        db = Driver(conn)
        later: set[str] = set()
        for attempt in range(1, MAX_CONFLICTS + 1):
            changes = Changes(published=list(published), received=received)
            for letter in dead:  # what could not be decoded is parked, whoever takes the batch
                changes.dead_letter(letter)
            mark = self.counters.mark()
            hooks = commit_mark(conn)
            self._counted = []
            started = time.perf_counter()
            if guarded:
                db.run("SAVEPOINT sw_batch")
            try:
                self.handle_batch(conn, [e for e in batch if e.id not in later], changes)
                rows = changes.apply(conn)
            except Exception as exc:
                if not guarded or not is_conflict(exc) or attempt == MAX_CONFLICTS:
                    raise
                db.run("ROLLBACK TO SAVEPOINT sw_batch")
                self.counters.restore(mark)
                forget_since(conn, hooks)
                hit = changes.conflicting(conn)
                self.metrics.conflicts.inc(len(hit) or len(batch))
                self.metrics.conflict_seconds.inc(time.perf_counter() - started)
                log.info("%s: %d message(s) met a concurrent writer", type(exc).__name__, len(hit))
                later |= hit  # none named: all are handled again, reading afresh
                continue
            if guarded:
                db.run("RELEASE SAVEPOINT sw_batch")
            return rows, [e for e in batch if e.id in later], self._counted
        raise AssertionError("unreachable")

    async def give_back(self) -> None:
        """Return the unused rest of each counter block (a clean stop leaves no gap)."""
        spare = self.counters.spare()
        if not spare:
            return

        def unit(conn: Connection) -> None:
            db = Driver(conn)
            for key, claimed, rest in spare:  # only if no replica claimed after this one
                db.run(
                    "UPDATE records SET data = ?, version = version + 1 WHERE key = ? AND data = ?",
                    (rest, key, claimed),
                )

        try:
            await self.db.write(unit)
            self.counters.restore({})
        except Exception:
            log.warning("could not give back unused serial numbers", exc_info=True)

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
                self._counted.append(self.metrics.duplicates)
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

        ctx = Context(self.service, self.run_seed, now(), self.reference, lookup, self.counters)
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
        mark = self.counters.mark()
        try:
            if handler is None:
                raise HandlerError("not_handled", f"{self.service} does not handle {envelope.type}")
            started = time.perf_counter()
            outcome = handler(envelope, held.get(envelope.declaration_id), ctx)
            self.metrics.handler_seconds_of(envelope.type).observe(time.perf_counter() - started)
        except HandlerError as exc:
            self.counters.restore(mark)  # numbers it took are not used
            if span is not None:
                span.set_attribute("sw.outcome", f"dead_letter:{exc.code}")
            self._reject(envelope, exc.code, exc.detail, changes)
            return
        except Exception as exc:  # a bug must not stop the consumer: park the message, say why
            self.counters.restore(mark)
            if span is not None:
                span.record_exception(exc)
            log.exception("handler failed", extra=log_context(envelope))
            self._reject(envelope, "handler_error", f"{type(exc).__name__}: {exc}", changes)
            return
        for put in (outcome.put, *outcome.also):
            if put is not None:
                changes.put(put, by=envelope.id)
                held[put.key] = put.held()
        changes.log(envelope, "in")  # the cause before its effects in the journal
        replies = [changes.emit(e, value=outcome.encoded.get(e.id)) for e in outcome.emit]
        changes.handled(envelope, replies, journal=False)
        self._counted.append(self.metrics.handled_of(envelope.type, "ok"))

    def _reject(self, envelope: Envelope, code: str, detail: str, changes: Changes) -> None:
        self._counted.append(self.metrics.handled_of(envelope.type, "dead_letter"))
        self._counted.append(self.metrics.dead_letters.labels(code))
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
