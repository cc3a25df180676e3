"""A declaration's timeline from its journal lines: each message once, with its sends."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from schemas.api import SendAttempts, TimelineEntry
from schemas.envelope import whole


class JournalLine(Protocol):
    """One journal row as the timeline reads it."""

    seq: int
    direction: str
    occurred_at: str
    envelope: bytes


def timeline_entries(lines: Iterable[JournalLine]) -> list[TimelineEntry]:
    """The entries of journal lines in `seq` order: a message written again (a command re-sent
    under its id) stays at its first place, its line times counted as send attempts."""
    first: dict[str, tuple[JournalLine, dict[str, Any]]] = {}
    sent_at: dict[str, list[str]] = {}
    for line in lines:
        env = whole(line.envelope)  # every field, defaults too, however it travelled
        first.setdefault(env["id"], (line, env))
        if line.direction == "out":
            sent_at.setdefault(env["id"], []).append(line.occurred_at)
    entries = []
    for message_id, (line, env) in first.items():
        times = sent_at.get(message_id)
        entries.append(
            TimelineEntry(
                seq=line.seq,
                id=message_id,
                type=env["type"],
                direction="received" if line.direction == "in" else "sent",
                source=env["source"],
                occurred_at=env["occurred_at"],
                causation_id=env.get("causation_id"),
                payload=env["payload"],
                sends=SendAttempts(
                    count=len(times), last_sent_at=max(map(datetime.fromisoformat, times))
                )
                if times
                else None,
            )
        )
    return entries
