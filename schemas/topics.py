"""Topic names: one command and one event topic per agency, plus status and dead letters."""

from __future__ import annotations

from typing import Final

AGENCIES: Final = ("customs", "inspection", "forex", "tax")
STATUS: Final = "sw.declarations.status"
DEADLETTER: Final = "sw.deadletter"
# The gateway's consumer group that turns status changes into CEB receipts.
CEB_RECEIPTS_GROUP: Final = "sw-gateway-ceb"


def commands(agency: str) -> str:
    """The topic the gateway sends an agency's commands to."""
    return f"sw.{agency}.commands"


def events(agency: str) -> str:
    """The topic an agency publishes its events on."""
    return f"sw.{agency}.events"


def internal_topics() -> tuple[str, ...]:
    """The topics only the system reads (commands and agency events): they carry frames."""
    return tuple(t for a in AGENCIES for t in (commands(a), events(a)))


def all_topics() -> tuple[str, ...]:
    """Every topic the system uses, in a stable order."""
    return (*internal_topics(), STATUS, DEADLETTER)


def rotated() -> tuple[str, ...]:
    """The topics that rotate in generations (services/common/generations.py): all but the
    dead letters, which are few and kept for people to read."""
    return (*internal_topics(), STATUS)


def topic_for(message_type: str, kind: str) -> str:
    """The topic a message of this type and kind travels on."""
    prefix = message_type.split(".", 1)[0]
    if prefix in AGENCIES:
        return commands(prefix) if kind == "command" else events(prefix)
    return STATUS
