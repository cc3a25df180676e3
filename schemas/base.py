"""Base classes of every contract: frozen, strict about unknown fields."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict


class Contract(BaseModel):
    """A frozen model that refuses fields it does not know."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Payload(Contract):
    """The typed body of one kind of message; TYPE names it on the wire."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    KIND: ClassVar[Literal["command", "event"]]
    SUMMARY: ClassVar[str] = ""

    def partition_key(self) -> str | None:
        """The Kafka key when it is not the declaration id (all of one declaration's
        messages share a partition): a message about a shared record names that record."""
        return None


class Command(Payload):
    """An instruction from the gateway to one agency (imperative name)."""

    KIND: ClassVar[Literal["command", "event"]] = "command"


class Event(Payload):
    """A fact an agency or the gateway reports (past-tense name)."""

    KIND: ClassVar[Literal["command", "event"]] = "event"
