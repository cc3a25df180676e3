"""Deadlines: re-sending unanswered commands with backoff, stalling, operators' retry and cancel."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from gateway.core.errors import AlreadyEnded, NotStalled
from gateway.saga.model import TERMINAL, PendingStep, Saga

MAX_BACKOFF_FACTOR: Final = 16


def _no_answer(step: PendingStep) -> str:
    return f"no answer from {step.agency} to {step.type} after {step.attempts} attempts"


def stall_reason(pending: tuple[PendingStep, ...], reason: str | None) -> str | None:
    """Why a saga is stalled: the reason it has if a step out of tries still waits, else
    one of the waiting steps out of tries; None when none is left."""
    exhausted = [p for p in pending if p.deadline is None]
    if not exhausted:
        return None
    if reason is not None and any(reason == _no_answer(p) for p in exhausted):
        return reason
    return _no_answer(exhausted[-1])


def backoff_s(base_s: float, attempts: int, command_id: str) -> float:
    """Seconds until the next try: base × 2^(attempts−1) (at most ×16), plus up to 20% jitter.

    The jitter is drawn from the command id, so the same saga always waits the same.
    """
    digest = hashlib.sha256(f"{command_id}|{attempts}".encode()).digest()
    jitter = digest[0] / 255 * 0.2
    return float(base_s * min(2 ** (attempts - 1), MAX_BACKOFF_FACTOR) * (1 + jitter))


def next_deadline(saga: Saga) -> float | None:
    """The earliest deadline among the pending steps, or None."""
    deadlines = [p.deadline for p in saga.pending if p.deadline is not None]
    if saga.paced is not None and saga.paced.release_at is not None:
        deadlines.append(saga.paced.release_at)  # the watcher releases demo-paced commands
    return min(deadlines) if deadlines and saga.state not in TERMINAL else None


@dataclass(frozen=True)
class Expiry:
    """What passing deadlines do: commands to send again, and whether the saga stalled."""

    saga: Saga
    resend: tuple[PendingStep, ...]
    stalled: bool


def expire(saga: Saga, *, now: float, base_s: float, max_attempts: int) -> Expiry:
    """Re-send every step past its deadline; after the last try mark the saga stalled."""
    resend: list[PendingStep] = []
    pending: list[PendingStep] = []
    stalled_reason = saga.stalled_reason
    for step in saga.pending:
        if step.deadline is None or step.deadline > now:
            pending.append(step)
        elif step.attempts >= max_attempts:
            stalled_reason = _no_answer(step)
            pending.append(step.model_copy(update={"deadline": None}))
        else:
            attempts = step.attempts + 1
            again = step.model_copy(
                update={
                    "attempts": attempts,
                    "deadline": now + backoff_s(base_s, attempts, step.command_id),
                }
            )
            pending.append(again)
            resend.append(again)
    became_stalled = stalled_reason is not None and saga.stalled_reason is None
    updated = saga.model_copy(update={"pending": tuple(pending), "stalled_reason": stalled_reason})
    return Expiry(updated, tuple(resend), became_stalled)


def shift_clock(saga: Saga, seconds: float) -> Saga:
    """The saga with its sandbox clock `seconds` on: all it waits for comes that much sooner."""
    pending = tuple(
        p if p.deadline is None else p.model_copy(update={"deadline": p.deadline - seconds})
        for p in saga.pending
    )
    paced = saga.paced
    if paced is not None and paced.release_at is not None:
        paced = paced.model_copy(update={"release_at": paced.release_at - seconds})
    return saga.model_copy(
        update={
            "pending": pending,
            "paced": paced,
            "clock_offset_s": saga.clock_offset_s + seconds,
        }
    )


def retry_stalled(saga: Saga, *, now: float, base_s: float) -> Expiry:
    """An operator's retry: every step that ran out of tries gets a fresh set, sent now."""
    if not saga.stalled_reason or saga.state in TERMINAL:
        raise NotStalled(f"declaration {saga.declaration_id} is not stalled", state=saga.state)
    resend: list[PendingStep] = []
    pending: list[PendingStep] = []
    for step in saga.pending:
        if step.deadline is None:
            step = step.model_copy(
                update={"attempts": 1, "deadline": now + backoff_s(base_s, 1, step.command_id)}
            )
            resend.append(step)
        pending.append(step)
    updated = saga.model_copy(update={"pending": tuple(pending), "stalled_reason": None})
    return Expiry(updated, tuple(resend), False)


def cancel(saga: Saga, *, reason: str) -> Saga:
    """An operator's cancel: the declaration ends `cancelled`; nothing more is sent or awaited."""
    if saga.state in TERMINAL:
        raise AlreadyEnded(
            f"declaration {saga.declaration_id} has already ended ({saga.state})", state=saga.state
        )
    return saga.model_copy(
        update={"state": "cancelled", "pending": (), "stalled_reason": None, "reason": reason}
    )
