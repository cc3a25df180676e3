"""The gateway's reaction to agency events: advance the saga, send the next commands, tell the world."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from gateway import saga as sagas
from gateway.core.config import GatewayConfig
from gateway.saga import PendingStep, Saga, filings, pace
from schemas.base import Command
from schemas.envelope import Envelope, new_envelope
from schemas.messages import StatusChanged
from schemas.registry import REGISTRY
from services.common.changes import Held, Put
from services.common.handling import Context, Handler, HandlerError, Outcome

SOURCE = "gateway"


class ParsedSagas:
    """The sagas this process last read or wrote, by declaration id, with the exact bytes of
    their record: the next event of a declaration need not parse its record again.

    Bytes equality proves it is the same content, whoever wrote it (another replica, an
    operator's retry, a write that rolled back): a record that differs is parsed again. Only
    sagas still moving are kept, at most `limit`, the least recently used forgotten first.
    One per process, shared by the database threads of every gateway app in it (tests run
    several): a lock keeps the order and the bound whole.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._known: OrderedDict[str, tuple[bytes, Saga]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._known)

    def of(self, held: Held) -> Saga:
        """The saga of a record: remembered if its bytes are those remembered, else parsed."""
        with self._lock:
            known = self._known.get(held.key)
            if known is not None and known[0] == held.data:
                self._known.move_to_end(held.key)
                return known[1]
        saga = Saga.model_validate_json(held.data)
        self.remember(held.key, held.data, saga)
        return saga

    def remember(self, key: str, data: bytes, saga: Saga) -> None:
        """Remember the saga whose record is `data`; one that has ended is forgotten."""
        with self._lock:
            if saga.state in sagas.TERMINAL:
                self._known.pop(key, None)
                return
            self._known[key] = (data, saga)
            self._known.move_to_end(key)
            if len(self._known) > self.limit:
                self._known.popitem(last=False)


# Room for the declarations in flight (an entry's size: bench/RESULTS.md).
PARSED = ParsedSagas(limit=2048)


def send(
    saga: Saga,
    commands: Sequence[Command],
    *,
    cause: Envelope | None,
    config: GatewayConfig,
    now: float,
) -> tuple[Saga, list[Envelope]]:
    """Wrap commands in envelopes and remember each as a pending step with its deadline."""
    envelopes = [
        new_envelope(
            c,
            declaration_id=saga.declaration_id,
            source=SOURCE,
            correlation_id=cause.correlation_id if cause else saga.declaration_id,
            causation_id=cause.id if cause else None,
            clock_offset_s=saga.clock_offset_s,  # the agency decides as of the sandbox time
        )
        for c in commands
    ]
    deadline = now + config.step_deadline_s
    steps = tuple(filings.pending(e, saga.lines, deadline=deadline) for e in envelopes)
    return saga.model_copy(update={"pending": saga.pending + steps}), envelopes


def encoded(saga: Saga, commands: Sequence[Envelope]) -> dict[str, bytes]:
    """The bytes of commands `send` sent, by id: a pending step holds its command serialized
    (`Envelope.to_bytes()`, but a filing), so the outbox need not serialize it again."""
    sent = {p.command_id: p.envelope for p in saga.pending if filings.is_whole(p)}
    return {c.id: sent[c.id].encode() for c in commands if c.id in sent}


def status_event(saga: Saga, cause: Envelope | None, previous_state: str | None) -> Envelope:
    """The public status message of a saga: where it is now and what moved it."""
    status = sagas.public_status(saga)
    reason = saga.stalled_reason if status == "stalled" else saga.reason
    payload = StatusChanged(
        enterprise_id=saga.enterprise_id,
        direction=saga.brief.direction,
        trade_mode=saga.brief.trade_mode,
        status=status,
        state=saga.state,
        previous_state=previous_state,
        trigger=cause.type if cause else "deadline",
        steps=saga.steps,
        figures=saga.figures,
        entry_id=saga.entry_id,
        channel=saga.channel,
        customs_status=saga.customs_status,
        reason=reason,
    )
    return new_envelope(
        payload,
        declaration_id=saga.declaration_id,
        source=SOURCE,
        correlation_id=cause.correlation_id if cause else saga.declaration_id,
        causation_id=cause.id if cause else None,
    )


def put_saga(saga: Saga, previous: Held | None) -> Put:
    """The record write of a saga (remembered parsed, for its next event)."""
    put = Put.of(
        saga.declaration_id,
        saga,
        status=sagas.public_status(saga),
        previous=previous,
        owner=saga.enterprise_id,
        deadline=sagas.next_deadline(saga),
    )
    PARSED.remember(put.key, put.data, saga)
    return put


def on_event(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
    """Advance the declaration's saga by one agency event."""
    if held is None:
        raise HandlerError(
            "unknown_declaration", f"the gateway holds no declaration {envelope.declaration_id}"
        )
    before = PARSED.of(held)
    try:
        step = sagas.advance(before, envelope)
    except sagas.UnexpectedEvent as exc:
        raise HandlerError("unexpected_event", str(exc)) from exc
    now = time.time()
    after, commands = send(step.saga, step.commands, cause=envelope, config=ctx.reference, now=now)
    if after.paced is not None:  # a class's pace: hold the commands until released
        after, commands = pace.hold(
            after, commands, now=now, demo_stage_s=ctx.reference.demo_stage_s
        )
    # Every move is public: the status topic carries each state change, not only status changes.
    emit = [*commands, status_event(after, envelope, before.state)]
    return Outcome(put=put_saga(after, held), emit=emit, encoded=encoded(after, commands))


@dataclass(frozen=True)
class CaughtUp:
    """A saga after what fell due: the steps whose commands to send, and whether it stalled."""

    saga: Saga
    send: tuple[PendingStep, ...] = ()
    resent: tuple[str, ...] = ()
    released: tuple[str, ...] = ()
    stalled: bool = False


def due_pass(saga: Saga, *, at: float, config: GatewayConfig) -> CaughtUp:
    """One pass at time `at`: release demo-paced commands whose stage is over, re-send every
    step past its deadline, stall those out of tries."""
    send: list[PendingStep] = []
    released: tuple[str, ...] = ()
    if saga.paced is not None and pace.due(saga, at):  # demo pace: the stage's time is up
        out = pace.release(saga, now=at, step_deadline_s=config.step_deadline_s)
        saga = out.saga
        send.extend(out.send)
        released = tuple(s.type for s in out.send)
    expiry = sagas.expire(
        saga, now=at, base_s=config.step_deadline_s, max_attempts=config.step_max_attempts
    )
    send.extend(expiry.resend)
    resent = tuple(step.type for step in expiry.resend)
    return CaughtUp(expiry.saga, tuple(send), resent, released, expiry.stalled)


MAX_PASSES = 1000


def catch_up(saga: Saga, *, now: float, config: GatewayConfig) -> CaughtUp:
    """Everything that falls due up to `now`, each at its own moment, in order.

    After the sandbox clock jumps, each deadline passes in turn: a command unanswered is sent
    again at its deadline with backoff from there, until it answers or the saga stalls.
    """
    total = CaughtUp(saga)
    for _ in range(MAX_PASSES):
        at = sagas.next_deadline(total.saga)
        if at is None or at > now:
            break
        step = due_pass(total.saga, at=at, config=config)
        if step.saga == total.saga:
            break  # nothing moved (nothing is held at the release time): done
        total = CaughtUp(
            step.saga,
            total.send + step.send,
            total.resent + step.resent,
            total.released + step.released,
            total.stalled or step.stalled,
        )
    return total


HANDLERS: dict[str, Handler] = {
    t: on_event
    for t, m in REGISTRY.items()
    if m.KIND == "event" and t.split(".", 1)[0] in ("customs", "inspection", "forex", "tax")
}
