"""Pace control for a class: hold a paced saga's commands, release them when due. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.core.errors import NothingHeld
from gateway.saga import Paced, PendingStep, Saga
from schemas.api import Pace
from schemas.envelope import Envelope


def pacing(pace: Pace, *, stage_s: float | None = None) -> Paced | None:
    """What a saga moving at `pace` holds (instant: nothing, as cheap as ever).

    `stage_s`: a demo stage's own length (the sandbox `delayed` outcome), else the setting's.
    """
    return None if pace is Pace.INSTANT else Paced(pace=pace, stage_s=stage_s)


def hold(
    saga: Saga, sent: Sequence[Envelope], *, now: float, demo_stage_s: float
) -> tuple[Saga, list[Envelope]]:
    """Move a paced saga's just-sent commands from `pending` into `held`; emit none yet.

    `demo` sets the release `demo_stage_s` ahead (the deadline watcher releases them);
    `step` leaves it unset (the trainer releases them). An unpaced saga passes unchanged.
    """
    state = saga.paced
    if state is None or not sent:
        return saga, list(sent)
    ids = {e.id for e in sent}
    moving = tuple(
        p.model_copy(update={"deadline": None}) for p in saga.pending if p.command_id in ids
    )
    pending = tuple(p for p in saga.pending if p.command_id not in ids)
    stage_s = state.stage_s if state.stage_s is not None else demo_stage_s
    release_at = now + stage_s if state.pace is Pace.DEMO else None
    held = state.model_copy(update={"held": state.held + moving, "release_at": release_at})
    return saga.model_copy(update={"pending": pending, "paced": held}), []


@dataclass(frozen=True)
class Released:
    """The saga after its held commands were released, and the steps to send now."""

    saga: Saga
    send: tuple[PendingStep, ...]


def _on_clock(kept: str, clock_offset_s: float) -> str:
    """A held command (as its step keeps it), never sent yet, stamped with the sandbox clock
    it goes out at."""
    data = json.loads(kept)
    data.pop("clock_offset_s", None)
    if clock_offset_s:
        data["clock_offset_s"] = clock_offset_s
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def release(saga: Saga, *, now: float, step_deadline_s: float) -> Released:
    """Send every held command now: each becomes a pending step with a fresh deadline."""
    state = saga.paced
    if state is None or not state.held:
        raise NothingHeld(
            "no stage is waiting: an agency is still working, or the declaration has ended",
            state=saga.state,
        )
    steps = tuple(
        p.model_copy(
            update={
                "attempts": 1,
                "deadline": now + step_deadline_s,
                "envelope": _on_clock(p.envelope, saga.clock_offset_s),
            }
        )
        for p in state.held
    )
    moved = saga.model_copy(
        update={
            "pending": saga.pending + steps,
            "paced": state.model_copy(update={"held": (), "release_at": None}),
        }
    )
    return Released(moved, steps)


def due(saga: Saga, now: float) -> bool:
    """Whether a demo-paced saga's held commands should go out now."""
    state = saga.paced
    return (
        state is not None
        and bool(state.held)
        and state.release_at is not None
        and state.release_at <= now
    )


def held_types(saga: Saga) -> list[str]:
    """The message types waiting to be released."""
    return [p.type for p in saga.paced.held] if saga.paced else []
