"""The filing, kept once: the journal's `declaration.submitted` line, written at submission.

The saga record holds only what the saga decides with (saga.Brief) and the figures customs
gave (saga.lines). A pending step keeps its command without what those hold already
(`kept`): a filing without its declaration (but the scenario customs was told), a command
without the goods lines that are the saga's. The whole command is rebuilt when it is sent
again (`command_of`), with the same id and bytes, so the agency deduplicates it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from sqlalchemy import Connection

from gateway.saga import PendingStep, Saga
from schemas.envelope import Envelope
from schemas.messages import DeclarationSubmitted, FileDeclaration, ValueLine
from schemas.trade import DeclarationData, Scenario
from services.common.rawsql import Driver, chunked

SUBMITTED: Final = DeclarationSubmitted.TYPE
DECLARATION, LINES = "declaration", "lines"
# What a pending filing keeps of its declaration: the scenario customs was told.
_NOT_KEPT: Final = frozenset(DeclarationData.model_fields) - {"scenario"}


class MissingFiling(LookupError):
    """A filing to send again whose declaration the journal does not hold."""


def kept(envelope: Envelope, lines: tuple[ValueLine, ...]) -> tuple[str, tuple[str, ...]]:
    """A sent command as its pending step keeps it, and the payload fields it leaves out.

    The saga's lines change only before a command that carries them is built (acceptance)
    or after it is answered (a 9610 summary), so a pending command's lines are the saga's.
    """
    payload = envelope.payload
    if isinstance(payload, FileDeclaration):
        exclude: Any = {"payload": {DECLARATION: _NOT_KEPT}}
        return envelope.model_dump_json(exclude=exclude), (DECLARATION,)
    if lines and getattr(payload, LINES, None) == lines:
        return envelope.model_dump_json(exclude={"payload": {LINES}}), (LINES,)
    return envelope.model_dump_json(), ()


def pending(
    envelope: Envelope,
    lines: tuple[ValueLine, ...],
    *,
    deadline: float | None,
    supersedes: tuple[str, ...] = (),
) -> PendingStep:
    """The pending step of a command just sent (first attempt), kept lean."""
    kept_json, omitted = kept(envelope, lines)
    return PendingStep(
        command_id=envelope.id,
        type=envelope.type,
        agency=envelope.type.split(".", 1)[0],
        attempts=1,
        deadline=deadline,
        envelope=kept_json,
        omitted=omitted,
        supersedes=supersedes,
    )


def is_whole(step: PendingStep) -> bool:
    """Whether a step keeps its command's bytes as they were sent."""
    return not step.omitted


def command_of(
    step: PendingStep, filing: DeclarationData | None, lines: tuple[ValueLine, ...]
) -> Envelope:
    """The command of a pending step, as it was sent: what it left out put back."""
    if is_whole(step):
        return Envelope.model_validate_json(step.envelope)
    data: dict[str, Any] = json.loads(step.envelope)
    payload = data["payload"]
    if DECLARATION in step.omitted:
        if filing is None:
            raise MissingFiling(f"no filing for command {step.command_id}")
        told = payload.get(DECLARATION, {}).get("scenario")
        scenario = Scenario(told) if told else None
        payload[DECLARATION] = filing.model_copy(update={"scenario": scenario})
    if LINES in step.omitted:
        payload[LINES] = lines
    return Envelope.model_validate(data)


def filings(conn: Connection, declaration_ids: Iterable[str]) -> dict[str, DeclarationData]:
    """The declarations as filed, by id, from the journal's submission lines."""
    db = Driver(conn)
    wanted = list(dict.fromkeys(declaration_ids))
    found: dict[str, DeclarationData] = {}
    for chunk, in_chunk in chunked(wanted):
        sql = (
            "SELECT declaration_id, envelope FROM journal WHERE type = ? "
            f"AND declaration_id IN ({in_chunk})"
        )
        for declaration_id, raw in db.rows(sql, [SUBMITTED, *chunk]):
            submitted = Envelope.model_validate_json(bytes(raw)).payload
            assert isinstance(submitted, DeclarationSubmitted)
            found[declaration_id] = submitted.declaration
    return found


Filed = Callable[[str], DeclarationData | None]


def reader(conn: Connection) -> Filed:
    """The declaration as filed, by id, read in the caller's transaction."""
    return lambda declaration_id: filings(conn, [declaration_id]).get(declaration_id)


def commands(filed: Filed, saga: Saga, steps: Sequence[PendingStep]) -> list[Envelope]:
    """The commands of a saga's pending steps to send, the filing read only if one needs it."""
    needed = any(DECLARATION in s.omitted for s in steps)
    filing = filed(saga.declaration_id) if needed else None
    return [command_of(s, filing, saga.lines) for s in steps]
