"""The filing, kept once: the journal's `declaration.submitted` line, written at submission.

The saga record holds only what the saga decides with (saga.Brief); a pending filing keeps
its command without the declaration (`kept`), and the whole command is rebuilt from the
filing when it is sent again (`command_of`), with the same id, so customs deduplicates it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from sqlalchemy import Connection

from gateway.saga import PendingStep
from schemas.envelope import Envelope
from schemas.messages import DeclarationSubmitted, FileDeclaration
from schemas.trade import DeclarationData, Scenario
from services.common.rawsql import Driver, marks

FILE: Final = FileDeclaration.TYPE
SUBMITTED: Final = DeclarationSubmitted.TYPE
# What a pending filing keeps of its declaration: the scenario customs was told.
_NOT_KEPT: Final = frozenset(DeclarationData.model_fields) - {"scenario"}
CHUNK: Final = 500


class MissingFiling(LookupError):
    """A filing to send again whose declaration the journal does not hold."""


def kept(envelope: Envelope) -> str:
    """A sent command as its pending step keeps it: whole, but a filing without the
    declaration the journal holds (all but the scenario customs was told)."""
    if envelope.type != FILE:
        return envelope.model_dump_json()
    return envelope.model_dump_json(exclude={"payload": {"declaration": _NOT_KEPT}})


def is_whole(step: PendingStep) -> bool:
    """Whether a step keeps its command's bytes as they were sent."""
    return step.type != FILE


def command_of(step: PendingStep, filing: DeclarationData | None) -> Envelope:
    """The command of a pending step, as it was sent (a filing with its declaration again)."""
    if is_whole(step):
        return Envelope.model_validate_json(step.envelope)
    if filing is None:
        raise MissingFiling(f"no filing for command {step.command_id}")
    data: dict[str, Any] = json.loads(step.envelope)
    told = data["payload"].get("declaration", {}).get("scenario")
    scenario = Scenario(told) if told else None
    data["payload"]["declaration"] = filing.model_copy(update={"scenario": scenario})
    return Envelope.model_validate(data)


def filings(conn: Connection, declaration_ids: Iterable[str]) -> dict[str, DeclarationData]:
    """The declarations as filed, by id, from the journal's submission lines."""
    db = Driver(conn)
    wanted = list(dict.fromkeys(declaration_ids))
    found: dict[str, DeclarationData] = {}
    for i in range(0, len(wanted), CHUNK):
        chunk = wanted[i : i + CHUNK]
        sql = (
            "SELECT declaration_id, envelope FROM journal WHERE type = ? "
            f"AND declaration_id IN ({marks(len(chunk))})"
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


def commands(filed: Filed, declaration_id: str, steps: Sequence[PendingStep]) -> list[Envelope]:
    """The commands of pending steps to send, the filing read only when one needs it."""
    filing = None if all(is_whole(s) for s in steps) else filed(declaration_id)
    return [command_of(s, filing) for s in steps]
