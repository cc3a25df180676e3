"""What lands on the dead-letter topic."""

from __future__ import annotations

from pydantic import AwareDatetime

from schemas.base import Contract


class DeadLetter(Contract):
    """A message a consumer could not handle, with the reason and where it came from."""

    reason: str
    kind: str
    service: str
    topic: str
    partition: int
    offset: int
    # A frame (several envelopes in one record) has one letter per bad envelope: its position.
    frame_index: int | None = None
    key: str | None
    value: str
    message_id: str | None = None
    at: AwareDatetime
